import net from 'node:net';
import { randomBase62 } from '../auth/keys.ts';
import { ValidationError } from '../errors.ts';

export const MAX_URL_LENGTH = 2048;
export const SLUG_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Paths the server itself answers, or that people expect to be the platform's own. */
export const RESERVED_SLUGS = new Set([
  'graphql', 'healthz', 'readyz', 'api', 'admin', 'login', 'logout', 'signup', 'settings', 'dashboard',
  'static', 'assets', 'robots', 'favicon', 'sitemap', 'well-known', '_next', 'www', 'app', 'help', 'docs',
]);

export function validateUrl(value: string, field: string): string {
  const trimmed = value.trim();
  if (trimmed.length === 0) throw new ValidationError(field, 'a destination URL is required');
  if (trimmed.length > MAX_URL_LENGTH) {
    throw new ValidationError(field, `the URL is ${trimmed.length} characters long; at most ${MAX_URL_LENGTH} are allowed`);
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new ValidationError(field, `"${trimmed.slice(0, 100)}" is not an absolute URL: include the scheme, e.g. https://example.com/page`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError(field, `only http and https URLs are allowed, not ${url.protocol.replace(':', '')}`);
  }
  if (!url.hostname) throw new ValidationError(field, 'the URL has no host');
  return url.toString();
}

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

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateHostname(value: string, field: string): string {
  const host = value.trim().toLowerCase().replace(/\.$/, '');
  const labels = host.split('.');
  if (
    host.length === 0 ||
    host.length > 253 ||
    net.isIP(host) !== 0 ||
    labels.length < 2 ||
    !labels.every((label) => LABEL.test(label)) ||
    /^\d+$/.test(labels[labels.length - 1]!)
  ) {
    throw new ValidationError(field, `"${value}" is not a valid domain name (e.g. go.example.com)`);
  }
  return host;
}

export function validateColor(value: string, field: string): string {
  if (!/^#[0-9a-fA-F]{6}$/.test(value)) throw new ValidationError(field, 'a color is #rrggbb, e.g. #1a2b3c');
  return value.toLowerCase();
}

export function validateText(value: string | null | undefined, field: string, max: number): string | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  if (trimmed.length > max) throw new ValidationError(field, `at most ${max} characters`);
  return trimmed || null;
}

export function validateRequiredText(value: string, field: string, max: number): string {
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > max) throw new ValidationError(field, `must be 1 to ${max} characters`);
  return trimmed;
}

export function validateTags(tags: readonly string[], field: string): string[] {
  if (tags.length > 20) throw new ValidationError(field, 'at most 20 tags');
  const cleaned = tags.map((tag, index) => validateRequiredText(tag, `${field}.${index}`, 50));
  return [...new Set(cleaned)];
}

export function validatePositiveInt(value: number | null | undefined, field: string, max = 1_000_000_000): number | null {
  if (value === null || value === undefined) return null;
  if (!Number.isInteger(value) || value < 1 || value > max) throw new ValidationError(field, `must be a whole number from 1 to ${max}`);
  return value;
}

export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
