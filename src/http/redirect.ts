import { resolveCachedRedirect, resolveRedirect, type RedirectOutcome } from '../core/links.ts';
import { isQueryTimeout } from '../db/deadlines.ts';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../errors.ts';
import { clickFacts, type HeaderGetter } from '../redirect/clicks.ts';
import { PLATFORM_DOMAIN } from '../rules/links.ts';
import { isPlatformHost } from '../rules/validation.ts';
import type { Services } from '../services.ts';

const NO_LINK = 'No link with this address.';

function redirect(location: string): Response {
  return new Response(null, { status: 302, statusText: 'Found', headers: { Location: location, 'Cache-Control': 'no-store' } });
}

function plain(status: 404 | 410, message: string): Response {
  return new Response(`${message}\n`, {
    status,
    statusText: status === 404 ? 'Not Found' : 'Gone',
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

function unavailable(): Response {
  return new Response(`This link cannot be looked up right now: retry in ${DATABASE_RETRY_AFTER_SECONDS} s.\n`, {
    status: 503,
    statusText: 'Service Unavailable',
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
  });
}

/** The host (PLATFORM_DOMAIN on the platform's short domain, else the lowercased hostname) and slug a URL asks for. */
function addressOf(services: Services, url: URL): { host: string; slug: string } {
  const host = isPlatformHost(url.host, services.config.shortDomain) ? PLATFORM_DOMAIN : url.hostname.toLowerCase();
  let slug = '';
  try {
    slug = decodeURIComponent(url.pathname.slice(1));
  } catch {
    // malformed percent-encoding: no such link
  }
  return { host, slug };
}

/** HEAD shows where a link goes without counting a click. */
function recordClick(services: Services, method: string, outcome: Extract<RedirectOutcome, { kind: 'redirect' }>, header: Headers | HeaderGetter): void {
  if (method === 'GET') services.clicks.record(outcome.link, clickFacts(header));
}

/**
 * The server's fast path: the Location of a GET or HEAD answered from the link cache alone (the
 * click is recorded), or undefined when the full path must answer (not cached, or not a 302).
 */
export function cachedRedirect(services: Services, method: string, url: URL, header: HeaderGetter): string | undefined {
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const { host, slug } = addressOf(services, url);
  const outcome = resolveCachedRedirect(services, host, slug);
  if (outcome?.kind !== 'redirect') return undefined;
  recordClick(services, method, outcome, header);
  return outcome.location;
}

/** GET /<slug> on the platform domain or a verified workspace domain: the HTTP side of core's resolveRedirect. */
export async function handleRedirect(services: Services, request: Request, url: URL): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('Method not allowed\n', { status: 405, headers: { Allow: 'GET, HEAD' } });
  }
  const { host, slug } = addressOf(services, url);
  // The platform domain's root is no link: say where the API is (people land here after start-up).
  if (url.pathname === '/' && host === PLATFORM_DOMAIN) {
    return new Response(`taapit-api: the GraphQL API is at ${url.origin}/graphql (open it in a browser for GraphiQL); short links live at ${url.origin}/<slug>.\n`, {
      headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
    });
  }
  let outcome: RedirectOutcome;
  try {
    // A person's GET takes one of a limited link's clicks (bots and HEAD never use them up).
    outcome = await resolveRedirect({ services }, host, slug, () => request.method === 'GET' && !clickFacts(request.headers).bot);
  } catch (error) {
    // A link the cache does not hold cannot be looked up (database unreachable or stuck): the visitor may retry.
    if (!isDatabaseUnavailable(error) && !isQueryTimeout(error)) throw error;
    services.logger.warn({ err: { name: (error as Error).name, message: (error as Error).message } }, 'database unreachable');
    return unavailable();
  }
  switch (outcome.kind) {
    case 'notFound':
      return outcome.fallback ? redirect(outcome.fallback) : plain(404, NO_LINK);
    case 'gone':
      return outcome.fallback ? redirect(outcome.fallback) : plain(410, outcome.reason);
    case 'redirect':
      recordClick(services, request.method, outcome, request.headers);
      // Answered once the click is in the journal.
      await new Promise<void>((resolve) => services.clicks.afterJournal(resolve));
      return redirect(outcome.location);
  }
}
