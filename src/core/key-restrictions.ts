import { KeyRestrictionError } from '../errors.ts';
import { hostAllowed } from '../rules/host-patterns.ts';
import { shownDomain } from '../rules/links.ts';
import { destinationHost } from '../rules/validation.ts';
import type { Actor } from './actor.ts';

// What a key may write where people are sent: a leaked key cannot point links (or a domain's
// not-found page) at a phishing site, nor put them on a branded domain it was not given. The
// trusted CLI has no key and no such restriction.

function list(patterns: readonly string[]): string {
  return patterns.length <= 5 ? patterns.join(', ') : `${patterns.slice(0, 5).join(', ')} and ${patterns.length - 5} more`;
}

/**
 * Refuses a destination (a validated http(s) URL) outside the key's allowedDestinations. The host is
 * the URL's, so internationalised names are compared in their punycode form, as the patterns are.
 */
export function assertDestinationAllowed(actor: Actor, url: string, field: string): void {
  const patterns = actor.key?.doc.allowedDestinations ?? [];
  const host = destinationHost(new URL(url));
  if (hostAllowed(patterns, host)) return;
  throw new KeyRestrictionError(
    'allowedDestinations',
    field,
    `This API key may only send people to ${list(patterns)} (its allowedDestinations); ${host} is not among them: use one of those hosts or another key.`,
  );
}

/** Refuses a link domain (as stored: PLATFORM_DOMAIN for the platform's) outside the key's allowedDomains. */
export function assertDomainAllowed(actor: Actor, domain: string, field: string): void {
  const patterns = actor.key?.doc.allowedDomains ?? [];
  if (hostAllowed(patterns, domain)) return;
  const shortDomain = actor.services.config.shortDomain;
  const shown = patterns.map((pattern) => shownDomain(pattern, shortDomain));
  throw new KeyRestrictionError(
    'allowedDomains',
    field,
    `This API key may only write links on ${list(shown)} (its allowedDomains); ${shownDomain(domain, shortDomain)} is not among them: choose one of those domains or use another key.`,
  );
}
