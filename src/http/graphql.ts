import { getOperationAST, GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { createContext, type Context } from '../context.ts';
import { isQueryTimeout } from '../db/deadlines.ts';
import { withReadSignal } from '../db/read-connection.ts';
import { DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable, KeyRestrictionError } from '../errors.ts';
import { requestStore } from '../logger.ts';
import { schema } from '../schema/index.ts';
import type { Services } from '../services.ts';
import type { GraphQLServerContext } from './app.ts';
import { createAuthPlugin, graphqlJsonType } from './auth-plugin.ts';
import { queryCost } from './cost.ts';
import { cacheIntrospection, documentLimits, hideSuggestions } from './graphql-limits.ts';
import { graphqlMetrics } from './metrics.ts';
import { trustedDocuments } from './trusted-documents.ts';

const SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE';
const RETRY_AFTER = { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) };

/**
 * A field (or the whole request) that needed the unreachable database. Yoga answers a result with
 * any such error with HTTP 503 and Retry-After; the fields that did answer (from caches) stay in `data`.
 */
function databaseUnavailable(path?: readonly (string | number)[]): GraphQLError {
  return new GraphQLError(DATABASE_UNAVAILABLE_MESSAGE, { path, extensions: { code: SERVICE_UNAVAILABLE, http: { status: 503, headers: RETRY_AFTER } } });
}

/** The GraphQL endpoint: yoga with the schema, authentication, document limits and masked errors, and the early key check. */
export function createGraphQLHandler(services: Services) {
  const { config, logger } = services;
  const auth = createAuthPlugin(services);
  const trusted = trustedDocuments(auth.keyOf);
  // A warning without a stack: during an outage every request fails the same way.
  const logUnavailable = (error: unknown, path?: readonly (string | number)[]) =>
    logger.warn({ err: { name: (error as Error).name, message: (error as Error).message }, path: path?.join('.') }, 'database unreachable');

  const introspectionPlugin: Plugin = {
    onValidate({ addValidationRule }) {
      if (config.introspection === 'off') addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };

  // A query whose client went away stops: no more fields are resolved, the loaders read nothing
  // more, its slow reads still queued for a connection are dropped. A mutation runs to the end,
  // so that its writes are never left half done.
  const cancelAbandonedQueries: Plugin<Context> = {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'query') return;
      const { signal } = args.contextValue.request;
      args.contextValue.signal = signal;
      setExecuteFn(async (executeArgs) => {
        try {
          return await withReadSignal(signal, () => executeFn({ ...executeArgs, signal } as typeof executeArgs));
        } catch (error) {
          // The executor gives up with the abort reason: an answer nobody reads, and no server fault.
          if (!signal.aborted) throw error;
          return { errors: [new GraphQLError('The client closed the request.', { extensions: { code: 'CLIENT_CLOSED_REQUEST' } })] };
        }
      });
    },
  };

  const yoga = createYoga<GraphQLServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // CORS is answered by the app for every /graphql response, including those yoga never sees.
    cors: false,
    multipart: false,
    // The app has already read every POST body, capped (src/http/app.ts): yoga's own cap would pipe
    // each body through one more stream into one more Request.
    maxRequestBodySize: false,
    // The GraphQL-over-HTTP persisted document request (see trusted-documents.ts).
    extraParamNames: ['documentId'],
    logging: false,
    // GraphiQL served from this server (bundled), not from a CDN: works offline and behind strict CSPs.
    // The bundle costs ~50 MB of memory, so it is loaded when a browser first asks for it.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    graphiql: {
      title: 'taapit-api',
      // ASCII only: browsers refuse non-Latin-1 header values, which would break GraphiQL's first fetch.
      headers: JSON.stringify({ Authorization: 'Bearer taapit_...' }, null, 2),
      defaultQuery: '# Replace taapit_... in the Headers tab below with your API key, then run:\nquery Viewer {\n  viewer {\n    key { name hint permission }\n    user { email }\n    permissions { resource access }\n  }\n}\n',
    },
    // documentLimits first: its token check runs before authentication, which parses anonymous documents.
    plugins: [
      documentLimits(),
      auth.plugin,
      // After authentication: whether a documentId may run, and whether a raw query may, depend on the key.
      trusted.plugin,
      introspectionPlugin,
      ...(config.introspection === 'off' ? [hideSuggestions()] : []),
      // Before cacheIntrospection: its cached answers skip the onExecute hooks after it.
      queryCost(services, auth.authOf),
      cacheIntrospection(),
      cancelAbandonedQueries,
      ...(services.metrics ? [graphqlMetrics(services.metrics)] : []),
    ],
    maskedErrors: {
      maskError(error) {
        const graphQLError = error instanceof GraphQLError ? error : null;
        const original = graphQLError ? graphQLError.originalError : error;
        // Pothos reports bad arguments (a malformed cursor or id) with its validation error.
        if (original instanceof Error && original.name === 'PothosValidationError') {
          return new GraphQLError(original.message, {
            path: graphQLError?.path,
            extensions: { code: 'BAD_USER_INPUT' },
          });
        }
        if (isQueryTimeout(original)) {
          return new GraphQLError(
            `The query took longer than ${config.dbQueryTimeoutMs} ms and was stopped: narrow the filter (a workspace, a project) or page with a smaller "first".`,
            { path: graphQLError?.path, extensions: { code: 'TIMEOUT' } },
          );
        }
        if (isDatabaseUnavailable(original)) {
          logUnavailable(original, graphQLError?.path);
          return databaseUnavailable(graphQLError?.path);
        }
        // The client went away: nobody reads this answer, and it is no server fault.
        if (original instanceof Error && original.name === 'AbortError') {
          return new GraphQLError('The client closed the request.', { path: graphQLError?.path, extensions: { code: 'CLIENT_CLOSED_REQUEST' } });
        }
        if (original instanceof KeyRestrictionError) {
          return new GraphQLError(original.message, {
            path: graphQLError?.path,
            extensions: { code: original.code, reason: original.reason, restriction: original.restriction, field: original.field },
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
          extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: requestStore.getStore()?.requestId },
        });
      },
    },
    context: (initial): Context => {
      const { request, requestId } = initial;
      const { key, clientIp, rateLimit } = auth.authOf(request);
      const context = createContext(services, { request, requestId, clientIp, key, rateLimit }, initial);
      // A documentId request read the roles already, to decide the document: not twice.
      const roles = trusted.rolesRead(request);
      if (roles) context.memberships = () => roles;
      return context;
    },
  });
  return {
    // yoga.fetch rejects once the request's signal aborts: the client has gone, answer nobody with no error logged.
    fetch: async (request: Request, context: GraphQLServerContext) => {
      try {
        return await yoga.fetch(request, context);
      } catch (error) {
        if (!request.signal.aborted) throw error;
        return Response.json({ errors: [{ message: 'The client closed the request.', extensions: { code: 'CLIENT_CLOSED_REQUEST' } }] }, { status: 499 });
      }
    },
    /** Authenticates a keyed POST before its body is read (see createAuthPlugin); a key not cached needs the database. */
    authenticate: async (request: Request, context: GraphQLServerContext): Promise<Response | null> => {
      try {
        return await auth.authenticate(request, context);
      } catch (error) {
        if (!isDatabaseUnavailable(error)) throw error;
        logUnavailable(error);
        const contentType = graphqlJsonType(request.headers.get('accept')) ?? 'application/json';
        return Response.json(
          { errors: [{ message: DATABASE_UNAVAILABLE_MESSAGE, extensions: { code: SERVICE_UNAVAILABLE } }] },
          { status: 503, headers: { ...RETRY_AFTER, 'Content-Type': `${contentType}; charset=utf-8` } },
        );
      }
    },
  };
}

export type GraphQLHandler = ReturnType<typeof createGraphQLHandler>;
