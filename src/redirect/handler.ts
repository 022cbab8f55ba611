import type { DomainDoc } from '../models/domain.ts';
import type { LinkDoc } from '../models/link.ts';
import type { Services } from '../services.ts';
import { clickFacts } from './clicks.ts';

const SLUG = /^[A-Za-z0-9_-]{1,64}$/;
const UTM_FIELDS = ['source', 'medium', 'campaign', 'term', 'content'] as const;
const NO_LINK = 'No link with this address.';

/** The destination with the link's UTM parameters set (they win over the same ones in the URL). */
export function destinationWithUtm(link: Pick<LinkDoc, 'url' | 'utm'>): string {
  if (!link.utm || UTM_FIELDS.every((f) => !link.utm?.[f])) return link.url;
  const url = new URL(link.url);
  for (const field of UTM_FIELDS) {
    const value = link.utm[field];
    if (value) url.searchParams.set(`utm_${field}`, value);
  }
  return url.toString();
}

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

/** Why a link no longer redirects, or null while it does. */
export function goneReason(link: LinkDoc, clicksSoFar: number, now = Date.now()): string | null {
  if (link.archived) return 'This link was archived.';
  if (link.expiresAt && link.expiresAt.getTime() <= now) return 'This link has expired.';
  if (link.maxClicks != null && clicksSoFar >= link.maxClicks) return 'This link reached its click limit.';
  return null;
}

/** GET /<slug> on the platform domain or a verified workspace domain. */
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
  const custom = host !== services.config.shortDomain;
  let domain: DomainDoc | null = null;
  if (custom) {
    domain = await services.linkCache.findDomain(host);
    // Anyone can add any hostname to a workspace; until it is verified it serves nothing of the
    // workspace (no notFoundUrl, no link), or it would be an open redirect on someone else's name.
    if (!domain?.verified) return plain(404, NO_LINK);
  }
  const fallback = domain?.notFoundUrl;

  const cached = SLUG.test(slug) ? await services.linkCache.find(host, slug) : null;
  let link = cached?.link;
  // A link left on a hostname that another workspace has since verified is not theirs to serve.
  if (link && domain && String(link.workspaceId) !== String(domain.workspaceId)) link = null;
  if (!link || !cached) return fallback ? redirect(fallback) : plain(404, NO_LINK);
  const linkId = String(link._id);
  const clicksSoFar = link.clicks + services.clicks.unseenSince(linkId, cached.clickMark);
  const gone = goneReason(link, clicksSoFar);
  if (gone) return fallback ? redirect(fallback) : plain(410, gone);
  if (request.method === 'GET') services.clicks.record(link, clickFacts(request.headers));
  return redirect(destinationWithUtm(link));
}
