import net from 'node:net';
import { ValidationError } from '../errors.ts';

export const MAX_URL_LENGTH = 2048;

/** Bounds the parsing work on absurd input before the real limit is measured on the encoded form. */
const MAX_RAW_URL_LENGTH = 4 * MAX_URL_LENGTH;

/** An absolute http(s) URL, returned in the form stored and redirected to (at most 2048 characters). */
export function validateUrl(value: string, field: string): string {
  const trimmed = value.trim();
  if (trimmed.length === 0) throw new ValidationError(field, 'a destination URL is required');
  if (trimmed.length > MAX_RAW_URL_LENGTH) {
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
  // The limit applies to what is stored: non-ASCII characters grow up to 12-fold once percent-encoded.
  const stored = url.toString();
  if (stored.length > MAX_URL_LENGTH) {
    throw new ValidationError(
      field,
      `the URL is ${stored.length} characters long once encoded (non-ASCII characters count as their %XX escapes); at most ${MAX_URL_LENGTH} are allowed`,
    );
  }
  return stored;
}

/** A destination's host as the platform compares hosts: lowercased punycode (the URL parser's form), no trailing dot. */
export function destinationHost(url: URL): string {
  return url.hostname.replace(/\.$/, '');
}

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('0.0.0.0', 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addAddress('::', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const address = host.replace(/^\[(.*)\]$/, '$1');
  const family = net.isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * True when a destination is the platform's own short domain (`host` or `host:port`): with a
 * port, only that port, and then any loopback spelling of a loopback short domain (127.0.0.1,
 * [::1], localhost…) is the same server.
 */
export function isPlatformDestination(url: URL, shortDomain: string): boolean {
  const [shortHost, shortPort] = splitHostPort(shortDomain.toLowerCase());
  const host = destinationHost(url);
  const short = shortHost.replace(/\.$/, '');
  if (shortPort === undefined) return host === short;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (port !== shortPort) return false;
  return host === short || (isLoopbackHost(short) && isLoopbackHost(host));
}

/** `host[:port]` (IPv6 in brackets) as [host, port or undefined]. */
function splitHostPort(value: string): [string, string | undefined] {
  const [, host = '', port] = /^(.*?)(?::(\d+))?$/.exec(value) ?? [];
  return [host, port];
}

/**
 * True when a request's `Host` (`host[:port]`) names the platform's short domain: that exact
 * name, or, for a loopback short domain with a port (`localhost:4000`, the default), any loopback
 * spelling on that port (`127.0.0.1:4000`, `[::1]:4000`): the same server.
 */
export function isPlatformHost(hostHeader: string, shortDomain: string): boolean {
  const requested = hostHeader.toLowerCase();
  if (requested === shortDomain) return true;
  const [shortHost, shortPort] = splitHostPort(shortDomain);
  const [host, port] = splitHostPort(requested);
  return shortPort !== undefined && port === shortPort && isLoopbackHost(shortHost) && isLoopbackHost(host);
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
