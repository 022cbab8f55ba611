import { ValidationError } from '../errors.ts';
import { randomBase62 } from './keys.ts';
import { validateText } from './validation.ts';

/** What a slug may be: case-sensitive, 1–64 URL-safe characters (the redirect tests paths against it too). */
export const SLUG_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Paths the server itself answers, or that people expect to be the platform's own. */
export const RESERVED_SLUGS = new Set([
  'graphql', 'healthz', 'readyz', 'metrics', 'api', 'admin', 'login', 'logout', 'signup', 'settings', 'dashboard',
  'static', 'assets', 'robots', 'favicon', 'sitemap', 'well-known', '_next', 'www', 'app', 'help', 'docs',
]);

/** The UTM parameters a link can carry; each is added to the destination as `utm_<field>`. */
export const UTM_FIELDS = ['source', 'medium', 'campaign', 'term', 'content'] as const;
export type UtmField = (typeof UTM_FIELDS)[number];
export type UtmValues = { [F in UtmField]?: string | null };

const MAX_UTM_LENGTH = 200;

export function validateSlug(value: string, field: string): string {
  if (!SLUG_PATTERN.test(value)) {
    throw new ValidationError(field, 'a slug is 1 to 64 characters of A-Z, a-z, 0-9, "_" and "-"');
  }
  if (RESERVED_SLUGS.has(value.toLowerCase())) throw new ValidationError(field, `"${value}" is reserved; choose another slug`);
  return value;
}

export function generateSlug(): string {
  return randomBase62(7);
}

/** The UTM parameters to store: trimmed, blank ones dropped, null when none is left. */
export function validateUtm(utm: UtmValues | null | undefined, field: string): UtmValues | null {
  if (!utm) return null;
  const cleaned: UtmValues = {};
  for (const name of UTM_FIELDS) {
    const value = validateText(utm[name], `${field}.${name}`, MAX_UTM_LENGTH);
    if (value) cleaned[name] = value;
  }
  return Object.keys(cleaned).length > 0 ? cleaned : null;
}

export function validateExpiry(expiresAt: Date | null | undefined, field: string, now = Date.now()): Date | null {
  if (!expiresAt) return null;
  if (expiresAt.getTime() <= now) throw new ValidationError(field, 'expiresAt must be in the future');
  return expiresAt;
}

/**
 * What a link on the platform's own short domain stores as its domain (and its slug document's
 * `_id` starts with), instead of the host: the platform domain is whatever SHORT_DOMAIN says
 * today, so a restart on another PORT or a rebrand keeps every platform link and its slug. "@"
 * can never be in a hostname (nor in a URL's host, where it ends the user info), so no custom
 * domain or request can ever be this.
 */
export const PLATFORM_DOMAIN = '@platform';

/** The host a link answers on, as people see it: the current short domain for a platform link. */
export function shownDomain(stored: string, shortDomain: string): string {
  return stored === PLATFORM_DOMAIN ? shortDomain : stored;
}

/** The URL people share: http for a local short domain (no certificate there), https otherwise. */
export function shortUrl(link: { domain: string; slug: string }, shortDomain: string): string {
  const host = shownDomain(link.domain, shortDomain);
  const local = /^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host);
  return `${local ? 'http' : 'https'}://${host}/${link.slug}`;
}

/** The destination with the link's UTM parameters set (they win over the same ones in the URL). */
export function destinationWithUtm(link: { url: string; utm?: UtmValues | null }): string {
  const utm = link.utm;
  if (!utm || UTM_FIELDS.every((f) => !utm[f])) return link.url;
  const url = new URL(link.url);
  for (const field of UTM_FIELDS) {
    const value = utm[field];
    if (value) url.searchParams.set(`utm_${field}`, value);
  }
  return url.toString();
}

/** Why a link no longer redirects, or null while it does. */
export function goneReason(
  link: { archived: boolean; expiresAt?: Date | null; maxClicks?: number | null },
  clicksSoFar: number,
  now = Date.now(),
): string | null {
  if (link.archived) return 'This link was archived.';
  if (link.expiresAt && link.expiresAt.getTime() <= now) return 'This link has expired.';
  if (link.maxClicks != null && clicksSoFar >= link.maxClicks) return 'This link reached its click limit.';
  return null;
}
