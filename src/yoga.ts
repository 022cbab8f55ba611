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
    redirect: (request, url) => handleRedirect(services, request, url),
    cachedRedirect: (method, url, header) => cachedRedirect(services, method, url, header),
    afterClicksJournaled: (done) => services.clicks.afterJournal(done),
  });
}
