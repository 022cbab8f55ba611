import { createHmac, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import proxyAddr from 'proxy-addr';
import { GraphQLError, Kind, NoSchemaIntrospectionCustomRule, parse, type DocumentNode, type SelectionSetNode } from 'graphql';
import { createServerAdapter } from '@whatwg-node/server';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { AUTH_MESSAGES, type AuthenticatedKey } from './auth/authenticate.ts';
import { normalizeIp } from './rules/ip.ts';
import { AuthFailureThrottle } from './auth/rate-limit.ts';
import type { Config, CorsOrigins } from './config.ts';
import type { Context } from './context.ts';
import { cacheIntrospection, documentLimits, hideSuggestions } from './graphql-limits.ts';
import { requestStore, type RequestStore } from './logger.ts';
import { handleRedirect } from './redirect/handler.ts';
import { schema } from './schema/index.ts';
import { createActor } from './core/actor.ts';
import type { Services } from './services.ts';

/** What the HTTP layer hands to each request: set by the node server or by tests calling app.fetch. */
export interface ServerContext {
  req?: IncomingMessage;
  /** The socket peer (tests in process); the node server's is req.socket.remoteAddress. TRUST_PROXY applies. */
  remoteAddress?: string;
  /** The client address as is, TRUST_PROXY not applied (tests in process). */
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
  failures: AuthFailureThrottle,
  request: Request,
  params: { query?: string; operationName?: string | null },
  clientIp: string | null,
): Promise<AuthenticatedKey | null> {
  const store = requestStore.getStore() as RequestStore;
  const header = request.headers.get('authorization');
  // Windows are keyed by an HMAC of the address: the shared store never holds IPs.
  const address = createHmac('sha256', services.pepper)
    .update(clientIp ? normalizeIp(clientIp) : 'unknown')
    .digest('base64url')
    .slice(0, 22);

  if (header === null || header.trim() === '') {
    // Anonymous calls (introspection only) are limited per address, before the document is parsed.
    const limit = services.config.anonymousRateLimitPerMinute;
    const decision = await services.rateLimiter.hit(`ip:${address}`, limit);
    store.rateLimit = decision;
    if (!decision.allowed) {
      throw httpError(
        429,
        'RATE_LIMITED',
        `Rate limit of ${limit} anonymous requests per minute exceeded for this address: retry after ${decision.resetSeconds} s, or send an API key.`,
        { 'Retry-After': String(decision.resetSeconds) },
      );
    }
    if (!anonymousAllowed(services, params.query, params.operationName)) throw httpError(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing);
    return null;
  }

  // A key this instance has already verified skips the failure throttle; any other attempt from
  // an address with too many recent failures is refused before the key is looked up.
  const knownGood = services.authenticator.isKnownGood(header, clientIp);
  if (!knownGood) {
    const wait = failures.begin(address);
    if (wait > 0) {
      throw httpError(
        429,
        'RATE_LIMITED',
        `Too many failed authentication attempts from this address: retry after ${wait} s with a valid API key.`,
        { 'Retry-After': String(wait) },
      );
    }
  }
  let outcome;
  try {
    outcome = await services.authenticator.authenticate(header, clientIp);
  } finally {
    // Only 401s count: a 403 for allowedIps means the key itself is genuine, and GraphiQL's
    // placeholder is a person who has not pasted a key yet.
    const failed = outcome?.kind === 'failure' && outcome.failure.status === 401 && outcome.failure.message !== AUTH_MESSAGES.placeholder;
    if (!knownGood) await failures.settle(address, failed);
  }
  if (outcome.kind === 'failure') throw httpError(outcome.failure.status, outcome.failure.code, outcome.failure.message);
  if (outcome.kind === 'anonymous') throw httpError(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing);
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
  const failures = new AuthFailureThrottle(services.rateLimiter, config.authFailureLimitPerMinute);
  const authPlugin: Plugin<Record<string, unknown>, ServerContext> = {
    async onParams({ request, params, setResult, context }) {
      const clientIp = context.clientIp ?? null;
      try {
        const key = await authenticateRequest(services, failures, request, params, clientIp);
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
    // CORS is answered by createApp for every /graphql response, including those yoga never sees.
    cors: false,
    multipart: false,
    logging: false,
    // GraphiQL served from this server (bundled), not from a CDN: works offline and behind strict CSPs.
    renderGraphiQL,
    graphiql: {
      title: 'taapit-api',
      // ASCII only: browsers refuse non-Latin-1 header values, which would break GraphiQL's first fetch.
      headers: JSON.stringify({ Authorization: 'Bearer taapit_...' }, null, 2),
      defaultQuery: '# Replace taapit_... in the Headers tab below with your API key, then run:\nquery Viewer {\n  viewer {\n    key { name hint permission }\n    user { email }\n    permissions { resource access }\n  }\n}\n',
    },
    // documentLimits first: its token check runs before authentication, which parses anonymous documents.
    plugins: [
      documentLimits(),
      authPlugin,
      introspectionPlugin,
      ...(config.introspection === 'off' ? [hideSuggestions()] : []),
      cacheIntrospection(isIntrospectionOnly),
    ],
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
      return { request, requestId: store.requestId, clientIp, ...createActor(services, key) };
    },
  });
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** GraphQL documents are small: a larger body is refused, by Content-Length or while it is read. */
const MAX_BODY_BYTES = 1_000_000;
/** POST bodies that are JSON only: forms, multipart and text/plain are what a cross-site page can send without a preflight. */
const POST_CONTENT_TYPES = ['application/json', 'application/graphql+json', 'application/graphql-response+json'];
/** A Host header: a name or an address (IPv6 in brackets) with an optional port, nothing else. */
const HOST_HEADER = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i;
const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, Accept, Idempotency-Key, X-Request-Id';
const CORS_EXPOSE_HEADERS = [
  ...['Limit', 'Remaining', 'Reset'].flatMap((name) => [`RateLimit-${name}`, `X-RateLimit-${name}`]),
  'Retry-After',
  'X-Request-Id',
].join(', ');

function jsonError(status: number, code: string, message: string, extensions: Record<string, unknown> = {}): Response {
  return Response.json({ errors: [{ message, extensions: { code, ...extensions } }] }, { status });
}

type TrustFunction = (address: string, hop: number) => boolean;

/** proxy-addr's trust test for TRUST_PROXY, or null when X-Forwarded-For is ignored. */
function compileTrust(trustProxy: Config['trustProxy']): TrustFunction | null {
  if (trustProxy === false) return null;
  if ('hops' in trustProxy) {
    const { hops } = trustProxy;
    return (_address, hop) => hop < hops;
  }
  return proxyAddr.compile(trustProxy.proxies);
}

/**
 * The client address: the socket peer, or with TRUST_PROXY the rightmost X-Forwarded-For entry
 * not written by a trusted proxy (entries to its left are whatever the client sent).
 */
function clientIpOf(request: Request, ctx: ServerContext, trust: TrustFunction | null): string | null {
  if (ctx.clientIp) return ctx.clientIp;
  const peer = ctx.remoteAddress ?? ctx.req?.socket.remoteAddress;
  if (!peer) return null;
  if (!trust) return peer;
  const forwardedFor = request.headers.get('x-forwarded-for') ?? undefined;
  const address = proxyAddr({ headers: { 'x-forwarded-for': forwardedFor }, socket: { remoteAddress: peer } } as unknown as IncomingMessage, trust);
  return net.isIP(address) ? address : null;
}

/** The request's URL, or why it cannot be served: a Host that is not a host, a target that is not a path. */
function parseTarget(request: Request, ctx: ServerContext): URL | string {
  const host = request.headers.get('host');
  if (host !== null && !HOST_HEADER.test(host)) {
    return 'Malformed Host header: send the server name or address, with an optional port (e.g. "Host: api.example.com").';
  }
  const target = ctx.req?.url;
  if (target !== undefined && !target.startsWith('/')) {
    return 'Malformed request target: send the path only (e.g. "GET /graphql HTTP/1.1"), not an absolute URL.';
  }
  try {
    return new URL(request.url);
  } catch {
    return 'Malformed request URL: check the Host header and the request path.';
  }
}

function setCorsHeaders(headers: Headers, origin: string | null, allowed: CorsOrigins, preflight: boolean): void {
  // With a list the answer depends on Origin, so caches must keep one copy per origin.
  if (allowed !== '*') headers.append('Vary', 'Origin');
  if (origin === null || (allowed !== '*' && !allowed.includes(origin))) return;
  // Keys travel in the Authorization header, never in cookies: credentials are never allowed.
  headers.set('Access-Control-Allow-Origin', allowed === '*' ? '*' : origin);
  if (preflight) {
    headers.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    headers.set('Access-Control-Allow-Headers', CORS_ALLOW_HEADERS);
    headers.set('Access-Control-Max-Age', '600');
  } else {
    headers.set('Access-Control-Expose-Headers', CORS_EXPOSE_HEADERS);
  }
}

/** The body, read up to `max` bytes whatever Content-Length says (chunked bodies have none), or null past it. */
async function readCappedBody(request: Request, max: number): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      void reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function tooLarge(): Response {
  const response = jsonError(413, 'PAYLOAD_TOO_LARGE', `Request body over ${MAX_BODY_BYTES} bytes: send a smaller query or fewer variables.`);
  // The rest of the body is not read: the connection cannot be reused.
  response.headers.set('Connection', 'close');
  return response;
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
 * `app.fetch(request, { clientIp })` or `{ remoteAddress }` serves tests in process; node's http server serves the rest.
 */
export function createApp(services: Services) {
  const yoga = createGraphQLHandler(services);
  const { logger, config } = services;
  const trust = compileTrust(config.trustProxy);

  async function graphql(request: Request, serverContext: ServerContext, clientIp: string | null): Promise<Response> {
    if (request.method === 'OPTIONS') return new Response(null, { status: 204 });
    if (request.method !== 'POST') return yoga.fetch(request, { ...serverContext, clientIp: clientIp ?? undefined });
    const mediaType = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!POST_CONTENT_TYPES.includes(mediaType)) {
      return jsonError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `Unsupported Content-Type ${mediaType ? `"${mediaType}"` : '(none)'}: POST /graphql accepts a JSON body sent as ${POST_CONTENT_TYPES.join(', ')}.`,
      );
    }
    if (Number(request.headers.get('content-length') ?? 0) > MAX_BODY_BYTES) return tooLarge();
    const body = await readCappedBody(request, MAX_BODY_BYTES);
    if (body === null) return tooLarge();
    // Every accepted type is JSON: yoga is told so in the one spelling it parses.
    const headers = new Headers(request.headers);
    headers.set('content-type', 'application/json');
    const buffered = new Request(request.url, { method: 'POST', headers, body, signal: request.signal });
    return yoga.fetch(buffered, { ...serverContext, clientIp: clientIp ?? undefined });
  }

  async function route(request: Request, serverContext: ServerContext, url: URL): Promise<Response> {
    if (url.pathname === '/graphql') {
      const response = await graphql(request, serverContext, clientIpOf(request, serverContext, trust));
      setCorsHeaders(response.headers, request.headers.get('origin'), config.corsOrigins, request.method === 'OPTIONS');
      return response;
    }
    if (url.pathname === '/healthz') return Response.json({ status: 'ok' });
    if (url.pathname === '/readyz') {
      const ready = await services.db.ping(1000);
      return Response.json({ status: ready ? 'ready' : 'database unreachable' }, { status: ready ? 200 : 503 });
    }
    return handleRedirect(services, request, url);
  }

  return createServerAdapter<ServerContext>(async (request, serverContext) => {
    const incomingId = request.headers.get('x-request-id');
    const store: RequestStore = { requestId: incomingId && REQUEST_ID.test(incomingId) ? incomingId : randomUUID() };
    const started = performance.now();
    return requestStore.run(store, async () => {
      let path: string | undefined;
      let response: Response;
      try {
        const target = parseTarget(request, serverContext);
        if (typeof target === 'string') {
          response = jsonError(400, 'BAD_REQUEST', target);
          response.headers.set('Connection', 'close');
        } else {
          path = target.pathname;
          response = await route(request, serverContext, target);
        }
      } catch (error) {
        logger.error({ err: error }, 'unexpected error');
        response = jsonError(500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.', { requestId: store.requestId });
      }
      response.headers.set('X-Request-Id', store.requestId);
      if (store.rateLimit) setRateLimitHeaders(response.headers, store.rateLimit);
      logger.info({ method: request.method, path, status: response.status, ms: Math.round(performance.now() - started) }, 'request');
      return response;
    });
  });
}

export type App = ReturnType<typeof createApp>;
