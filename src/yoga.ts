import { createHttpApp, type App } from './http/app.ts';
import { createGraphQLHandler } from './http/graphql.ts';
import { cachedRedirect, handleRedirect } from './http/redirect.ts';
import type { Services } from './services.ts';

export type { App } from './http/app.ts';
export { isIntrospectionOnly } from './http/graphql-limits.ts';

/**
 * The taapit app: the HTTP surface of src/http/app.ts with GraphQL (yoga) on /graphql and short
 * links everywhere else. It does not listen: src/server.ts serves it, tests call app.fetch.
 */
export function createApp(services: Services): App {
  const graphql = createGraphQLHandler(services);
  return createHttpApp(services, {
    graphql: (request, context) => graphql.fetch(request, context),
    authenticate: (request, context) => graphql.authenticate(request, context),
    redirect: async (request, url) => {
      const response = await handleRedirect(services, request, url);
      services.metrics?.redirect(response.status, false);
      return response;
    },
    cachedRedirect: (method, url, header) => {
      const location = cachedRedirect(services, method, url, header);
      if (location !== undefined) services.metrics?.redirect(302, true);
      return location;
    },
    afterClicksJournaled: (done) => services.clicks.afterJournal(done),
  });
}
