import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GraphQLError, Kind, NoSchemaIntrospectionCustomRule, parse, type DocumentNode, type SelectionSetNode } from 'graphql';
import { createServerAdapter } from '@whatwg-node/server';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { AUTH_MESSAGES, type AuthenticatedKey } from './auth/authenticate.ts';
import type { Role } from './auth/permissions.ts';
import type { Context } from './context.ts';
import { requestStore, type RequestStore } from './logger.ts';
import { Membership } from './models/workspace.ts';
import { handleRedirect } from './redirect/handler.ts';
import { schema } from './schema/index.ts';
import { createLoaders } from './schema/loaders.ts';
import type { Services } from './services.ts';

/** What the HTTP layer hands to each request: set by the node server or by tests calling app.fetch. */
export interface ServerContext {
  req?: IncomingMessage;
  clientIp?: string;
}

function httpError(status: number, code: string, message: string, extraHeaders?: Record<string, string>): GraphQLError {
  const headers = status === 401 ? { 'WWW-Authenticate': 'Bearer realm="taapit-api"', ...extraHeaders } : extraHeaders;
  return new GraphQLError(message, { extensions: { code, http: { status, ...(headers ? { headers } : {}) } } });
}

/** True when every root field of the operation that would run is __schema, __type or __typename. */
export function isIntrospectionOnly(document: DocumentNode, operationName?: string | null): boolean {
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])),
  );
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
  if (!operation || (!operationName && operations.length > 1)) return false;
  const onlyIntrospection = (set: SelectionSetNode, seen: Set<string>): boolean =>
    set.selections.every((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value.startsWith('__');
      if (selection.kind === Kind.INLINE_FRAGMENT) return onlyIntrospection(selection.selectionSet, seen);
      const name = selection.name.value;
      const fragment = fragments.get(name);
      if (!fragment || seen.has(name)) return false;
      return onlyIntrospection(fragment.selectionSet, new Set([...seen, name]));
    });
  return onlyIntrospection(operation.selectionSet, new Set());
}

function anonymousAllowed(services: Services, query: string | undefined, operationName?: string | null): boolean {
  if (services.config.introspection !== 'public' || !query) return false;
  try {
    return isIntrospectionOnly(parse(query), operationName);
  } catch {
    return false;
  }
}

/**
 * The key of a GraphQL request, or null for an anonymous introspection-only operation. Throws
 * the request-level error (401, 403 or 429) otherwise. Records rate-limit state and usage.
 */
async function authenticateRequest(
  services: Services,
  request: Request,
  params: { query?: string; operationName?: string | null },
  clientIp: string | null,
): Promise<AuthenticatedKey | null> {
  const store = requestStore.getStore() as RequestStore;
  const outcome = await services.authenticator.authenticate(request.headers.get('authorization'), clientIp);
  if (outcome.kind === 'failure') throw httpError(outcome.failure.status, outcome.failure.code, outcome.failure.message);
  if (outcome.kind === 'anonymous') {
    if (!anonymousAllowed(services, params.query, params.operationName)) throw httpError(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing);
    return null;
  }
  const key = outcome.key;
  store.keyId = key.id;
  const limit = key.rateLimit ?? services.config.rateLimitPerMinute;
  const decision = await services.rateLimiter.hit(key.id, limit);
  store.rateLimit = decision;
  if (!decision.allowed) {
    throw httpError(
      429,
      'RATE_LIMITED',
      `Rate limit of ${limit} requests per minute exceeded for this key: retry after ${decision.resetSeconds} s.`,
      { 'Retry-After': String(decision.resetSeconds) },
    );
  }
  services.usage.record(key.id, clientIp);
  return key;
}

export function createGraphQLHandler(services: Services) {
  const { config, logger } = services;

  // Authentication runs once per request, as soon as the GraphQL parameters are known and before
  // parsing and validation, so a bad key is a 401 whatever the document; the context factory
  // then builds the request's context from the outcome.
  const authenticatedRequests = new WeakMap<Request, { key: AuthenticatedKey | null; clientIp: string | null }>();
  const authPlugin: Plugin<Record<string, unknown>, ServerContext> = {
    async onParams({ request, params, setResult, context }) {
      const clientIp = context.clientIp ?? null;
      try {
        const key = await authenticateRequest(services, request, params, clientIp);
        authenticatedRequests.set(request, { key, clientIp });
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        setResult({ errors: [error] });
      }
    },
  };

  const introspectionPlugin: Plugin = {
    onValidate({ addValidationRule }) {
      if (config.introspection === 'off') addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };

  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: false,
    // GraphiQL served from this server (bundled), not from a CDN: works offline and behind strict CSPs.
    renderGraphiQL,
    graphiql: {
      title: 'taapit-api',
      // ASCII only: browsers refuse non-Latin-1 header values, which would break GraphiQL's first fetch.
      headers: JSON.stringify({ Authorization: 'Bearer taapit_...' }, null, 2),
      defaultQuery: '# Replace taapit_... in the Headers tab below with your API key, then run:\nquery Viewer {\n  viewer {\n    key { name hint permission }\n    user { email }\n    permissions { resource access }\n  }\n}\n',
    },
    plugins: [authPlugin, introspectionPlugin],
    maskedErrors: {
      maskError(error) {
        const store = requestStore.getStore();
        const graphQLError = error instanceof GraphQLError ? error : null;
        const original = graphQLError ? graphQLError.originalError : error;
        // Pothos reports bad arguments (a malformed cursor or id) with its validation error.
        if (original instanceof Error && original.name === 'PothosValidationError') {
          return new GraphQLError(original.message, {
            path: graphQLError?.path,
            extensions: { code: 'BAD_USER_INPUT' },
          });
        }
        // Errors we raised on purpose (auth, input, paging) and request errors without a path pass as they are.
        if (graphQLError && (!original || original instanceof GraphQLError)) return graphQLError;
        if (graphQLError && graphQLError.path === undefined && !(original instanceof Error && /Mongo|Mongoose/.test(original.name))) {
          return graphQLError;
        }
        logger.error({ err: original ?? error, path: graphQLError?.path?.join('.') }, 'unexpected error');
        return new GraphQLError('Unexpected error.', {
          path: graphQLError?.path,
          extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: store?.requestId },
        });
      },
    },
    context: async ({ request }): Promise<Context> => {
      const store = requestStore.getStore() as RequestStore;
      const authenticated = authenticatedRequests.get(request);
      if (!authenticated) throw httpError(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing);
      const { key, clientIp } = authenticated;
      let memberships: Promise<Map<string, Role>> | undefined;
      const scope = {
        key,
        memberships: () =>
          (memberships ??= key
            ? Membership.find({ userId: key.userId })
                .lean()
                .exec()
                .then((rows) => new Map(rows.map((m) => [String(m.workspaceId), m.role])))
            : Promise.resolve(new Map())),
      };
      return {
        request,
        requestId: store.requestId,
        clientIp,
        key,
        services,
        loaders: createLoaders(scope),
        memberships: scope.memberships,
      };
    },
  });
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** GraphQL documents are small; a larger body is refused before it is read. */
const MAX_BODY_BYTES = 1_000_000;

function clientIpOf(request: Request, ctx: ServerContext, trustProxy: boolean): string | null {
  if (ctx.clientIp) return ctx.clientIp;
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  return ctx.req?.socket.remoteAddress ?? null;
}

function setRateLimitHeaders(headers: Headers, rateLimit: NonNullable<RequestStore['rateLimit']>): void {
  const values = {
    Limit: String(rateLimit.limit),
    Remaining: String(rateLimit.remaining),
    Reset: String(rateLimit.resetSeconds),
  };
  for (const [name, value] of Object.entries(values)) {
    headers.set(`RateLimit-${name}`, value);
    headers.set(`X-RateLimit-${name}`, value);
  }
}

/**
 * The whole HTTP surface without listening: /graphql, /healthz, /readyz and the redirect.
 * `app.fetch(request, { clientIp })` serves tests in process; node's http server serves the rest.
 */
export function createApp(services: Services) {
  const yoga = createGraphQLHandler(services);
  const { logger, config } = services;

  return createServerAdapter<ServerContext>(async (request, serverContext) => {
    const incomingId = request.headers.get('x-request-id');
    const store: RequestStore = { requestId: incomingId && REQUEST_ID.test(incomingId) ? incomingId : randomUUID() };
    const started = performance.now();
    return requestStore.run(store, async () => {
      const url = new URL(request.url);
      const clientIp = clientIpOf(request, serverContext, config.trustProxy);
      let response: Response;
      try {
        if (url.pathname === '/graphql' && Number(request.headers.get('content-length') ?? 0) > MAX_BODY_BYTES) {
          response = Response.json(
            { errors: [{ message: `Request body over ${MAX_BODY_BYTES} bytes: send a smaller query or fewer variables.`, extensions: { code: 'PAYLOAD_TOO_LARGE' } }] },
            { status: 413 },
          );
        } else if (url.pathname === '/graphql') {
          response = await yoga.fetch(request, { ...serverContext, clientIp: clientIp ?? undefined });
        } else if (url.pathname === '/healthz') {
          response = Response.json({ status: 'ok' });
        } else if (url.pathname === '/readyz') {
          const ready = await services.db.ping(1000);
          response = Response.json({ status: ready ? 'ready' : 'database unreachable' }, { status: ready ? 200 : 503 });
        } else {
          response = await handleRedirect(services, request, url);
        }
      } catch (error) {
        logger.error({ err: error }, 'unexpected error');
        response = Response.json(
          { errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: store.requestId } }] },
          { status: 500 },
        );
      }
      response.headers.set('X-Request-Id', store.requestId);
      if (store.rateLimit) setRateLimitHeaders(response.headers, store.rateLimit);
      logger.info(
        { method: request.method, path: url.pathname, status: response.status, ms: Math.round(performance.now() - started) },
        'request',
      );
      return response;
    });
  });
}

export type App = ReturnType<typeof createApp>;
