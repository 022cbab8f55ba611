// Host patterns of a key's allowedDestinations and allowedDomains: `example.com` (that host only)
// or `*.example.com` (every host below it, at any depth, but not example.com itself).

import { domainToASCII } from 'node:url';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const MAX_HOST_PATTERNS = 100;

/**
 * A pattern as stored: lowercased, without a trailing dot, internationalised names in their
 * punycode form (what a URL's hostname is), so `*.exämple.com` and `*.xn--exmple-cua.com` are the
 * same. Returns an error message for anything that is not a host name or `*.` and one.
 */
export function normaliseHostPattern(value: string): { pattern: string } | { error: string } {
  const raw = value.trim().toLowerCase().replace(/\.$/, '');
  const wildcard = raw.startsWith('*.');
  const base = wildcard ? raw.slice(2) : raw;
  const hint = 'give a host name such as example.com, or *.example.com for every host below it (no scheme, port or path)';
  if (base.includes('*')) return { error: `"${value}": "*" may only start a pattern, as in *.example.com; ${hint}` };
  const ascii = base.length > 0 && !/[/:@?#\s\\[\]]/.test(base) ? domainToASCII(base) : '';
  const labels = ascii.split('.');
  if (ascii.length === 0 || ascii.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l)) || /^\d+$/.test(labels.at(-1)!)) {
    return { error: `"${value}" is not a host pattern: ${hint}` };
  }
  return { pattern: wildcard ? `*.${ascii}` : ascii };
}

/** Whether `host` (a URL's hostname, or a stored link domain) is matched by `pattern`. */
export function hostMatches(pattern: string, host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) : name === pattern;
}

/** Whether an empty list (anything) or one of its patterns matches `host`. */
export function hostAllowed(patterns: readonly string[], host: string): boolean {
  return patterns.length === 0 || patterns.some((pattern) => hostMatches(pattern, host));
}

/** Whether every host `child` matches is matched by `parent` too. */
export function patternCovers(parent: string, child: string): boolean {
  if (!parent.startsWith('*.')) return parent === child;
  const suffix = parent.slice(1);
  return child.startsWith('*.') ? child === parent || child.endsWith(suffix) : child.endsWith(suffix);
}

/** The patterns of `child` no pattern of `parent` covers. */
export function uncoveredPatterns(parent: readonly string[], child: readonly string[]): string[] {
  return child.filter((c) => !parent.some((p) => patternCovers(p, c)));
}
