import { resolveCachedRedirect, resolveRedirect, type RedirectOutcome } from '../core/links.ts';
import { clickFacts, type HeaderGetter } from '../redirect/clicks.ts';
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

/** The host (the platform domain as configured, else the lowercased hostname) and slug a URL asks for. */
function addressOf(services: Services, url: URL): { host: string; slug: string } {
  const host = url.host.toLowerCase() === services.config.shortDomain ? services.config.shortDomain : url.hostname.toLowerCase();
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
  const outcome = await resolveRedirect({ services }, host, slug);
  switch (outcome.kind) {
    case 'notFound':
      return outcome.fallback ? redirect(outcome.fallback) : plain(404, NO_LINK);
    case 'gone':
      return outcome.fallback ? redirect(outcome.fallback) : plain(410, outcome.reason);
    case 'redirect':
      recordClick(services, request.method, outcome, request.headers);
      return redirect(outcome.location);
  }
}
