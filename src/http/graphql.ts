import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { createContext, type Context } from '../context.ts';
import { requestStore } from '../logger.ts';
import { schema } from '../schema/index.ts';
import type { Services } from '../services.ts';
import type { GraphQLServerContext } from './app.ts';
import { createAuthPlugin } from './auth-plugin.ts';
import { cacheIntrospection, documentLimits, hideSuggestions } from './graphql-limits.ts';

/** The GraphQL endpoint: yoga with the schema, authentication, document limits and masked errors. */
export function createGraphQLHandler(services: Services) {
  const { config, logger } = services;
  const auth = createAuthPlugin(services);

  const introspectionPlugin: Plugin = {
    onValidate({ addValidationRule }) {
      if (config.introspection === 'off') addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };

  return createYoga<GraphQLServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // CORS is answered by the app for every /graphql response, including those yoga never sees.
    cors: false,
    multipart: false,
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
      introspectionPlugin,
      ...(config.introspection === 'off' ? [hideSuggestions()] : []),
      cacheIntrospection(),
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
    context: ({ request, requestId }): Context => {
      const { key, clientIp, rateLimit } = auth.authOf(request);
      return createContext(services, { request, requestId, clientIp, key, rateLimit });
    },
  });
}

export type GraphQLHandler = ReturnType<typeof createGraphQLHandler>;
