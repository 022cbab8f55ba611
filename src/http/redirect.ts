import { resolveRedirect } from '../core/links.ts';
import { clickFacts } from '../redirect/clicks.ts';
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

/** GET /<slug> on the platform domain or a verified workspace domain: the HTTP side of core's resolveRedirect. */
export async function handleRedirect(services: Services, request: Request, url: URL): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('Method not allowed\n', { status: 405, headers: { Allow: 'GET, HEAD' } });
  }
  const host = url.host.toLowerCase() === services.config.shortDomain ? services.config.shortDomain : url.hostname.toLowerCase();
  let slug = '';
  try {
    slug = decodeURIComponent(url.pathname.slice(1));
  } catch {
    // malformed percent-encoding: no such link
  }
  const outcome = await resolveRedirect({ services }, host, slug);
  switch (outcome.kind) {
    case 'notFound':
      return outcome.fallback ? redirect(outcome.fallback) : plain(404, NO_LINK);
    case 'gone':
      return outcome.fallback ? redirect(outcome.fallback) : plain(410, outcome.reason);
    case 'redirect':
      // HEAD shows where a link goes without counting a click.
      if (request.method === 'GET') services.clicks.record(outcome.link, clickFacts(request.headers));
      return redirect(outcome.location);
  }
}
