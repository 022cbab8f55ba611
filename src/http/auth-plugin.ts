import { createHmac } from 'node:crypto';
import { GraphQLError, parse } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AUTH_MESSAGES, type AuthenticatedKey } from '../auth/authenticate.ts';
import { AuthFailureThrottle, type RateLimitDecision } from '../auth/rate-limit.ts';
import { requestStore } from '../logger.ts';
import { normalizeIp } from '../rules/ip.ts';
import type { Services } from '../services.ts';
import type { GraphQLServerContext } from './app.ts';
import { isIntrospectionOnly } from './graphql-limits.ts';

/** What authentication decided for one GraphQL request. */
export interface RequestAuth {
  /** Null for an anonymous introspection-only operation. */
  key: AuthenticatedKey | null;
  clientIp: string | null;
  /** The rate-limit window this request counted in (per key, or per address when anonymous). */
  rateLimit: RateLimitDecision | null;
}

function httpError(status: number, code: string, message: string, extraHeaders?: Record<string, string>): GraphQLError {
  const headers = status === 401 ? { 'WWW-Authenticate': 'Bearer realm="taapit-api"', ...extraHeaders } : extraHeaders;
  return new GraphQLError(message, { extensions: { code, http: { status, ...(headers ? { headers } : {}) } } });
}

function rateLimited(message: string, decision: RateLimitDecision): GraphQLError {
  return httpError(429, 'RATE_LIMITED', message, { 'Retry-After': String(decision.resetSeconds) });
}

function anonymousAllowed(services: Services, query: string | undefined, operationName?: string | null): boolean {
  if (services.config.introspection !== 'public' || !query) return false;
  try {
    return isIntrospectionOnly(parse(query), operationName);
  } catch {
    return false;
  }
}

function setRateLimitHeaders(headers: Headers, rateLimit: RateLimitDecision): void {
  const values = {
    Limit: String(rateLimit.limit),
    Remaining: String(rateLimit.remaining),
    Reset: String(rateLimit.resetSeconds),
  };
  for (const [name, value] of Object.entries(values)) {
    headers.set(`RateLimit-${name}`, value);
    headers.set(`X-RateLimit-${name}`, value);
  }
}

/**
 * Fills `auth` with the request's key (or null for an anonymous introspection-only operation)
 * and its rate-limit decision. Throws the request-level error (401, 403 or 429) otherwise.
 * Records usage.
 */
async function authenticateRequest(
  services: Services,
  failures: AuthFailureThrottle,
  request: Request,
  params: { query?: string; operationName?: string | null },
  auth: RequestAuth,
): Promise<void> {
  const { clientIp } = auth;
  const credential = services.authenticator.credential(request.headers.get('authorization'));
  // Windows are keyed by an HMAC of the address: the shared store never holds IPs. Computed only
  // where a window per address is needed (anonymous requests, keys not yet verified here).
  const address = () =>
    createHmac('sha256', services.pepper)
      .update(clientIp ? normalizeIp(clientIp) : 'unknown')
      .digest('base64url')
      .slice(0, 22);

  if (credential.kind === 'anonymous') {
    // Anonymous calls (introspection only) are limited per address, before the document is parsed.
    const limit = services.config.anonymousRateLimitPerMinute;
    const decision = await services.rateLimiter.hit(`ip:${address()}`, limit);
    auth.rateLimit = decision;
    if (!decision.allowed) {
      throw rateLimited(
        `Rate limit of ${limit} anonymous requests per minute exceeded for this address: retry after ${decision.resetSeconds} s, or send an API key.`,
        decision,
      );
    }
    if (!anonymousAllowed(services, params.query, params.operationName)) throw httpError(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing);
    return;
  }

  // A key this instance has already verified skips the failure throttle; any other attempt from
  // an address with too many recent failures is refused before the key is looked up.
  const knownGood = services.authenticator.isKnownGood(credential, clientIp);
  const throttled = knownGood ? null : address();
  if (throttled) {
    const wait = failures.begin(throttled);
    if (wait > 0) {
      throw httpError(
        429,
        'RATE_LIMITED',
        `Too many failed authentication attempts from this address: retry after ${wait} s with a valid API key.`,
        { 'Retry-After': String(wait) },
      );
    }
  }
  let outcome;
  try {
    outcome = await services.authenticator.authenticate(credential, clientIp);
  } finally {
    if (throttled) await failures.settle(throttled, outcome?.kind === 'failure' && outcome.failure.failedAttempt);
  }
  if (outcome.kind === 'failure') throw httpError(outcome.failure.status, outcome.failure.code, outcome.failure.message);
  if (outcome.kind === 'anonymous') throw httpError(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing);
  const key = outcome.key;
  const store = requestStore.getStore();
  if (store) store.keyId = key.id;
  const limit = key.rateLimit ?? services.config.rateLimitPerMinute;
  const decision = await services.rateLimiter.hit(key.id, limit);
  auth.rateLimit = decision;
  if (!decision.allowed) {
    throw rateLimited(`Rate limit of ${limit} requests per minute exceeded for this key: retry after ${decision.resetSeconds} s.`, decision);
  }
  services.usage.record(key.id, clientIp);
  auth.key = key;
}

/**
 * Authentication, once per request, as soon as the GraphQL parameters are known and before
 * parsing and validation, so a bad key is a 401 whatever the document. Anonymous requests are
 * limited per address, failed attempts throttled per address, keys limited per key; every
 * response that counted in a window carries RateLimit-* headers. `authOf(request)` hands the
 * outcome to the context factory.
 */
export function createAuthPlugin(services: Services) {
  const failures = new AuthFailureThrottle(services.rateLimiter, services.config.authFailureLimitPerMinute);
  const outcomes = new WeakMap<Request, { auth: RequestAuth; authenticated: boolean }>();

  const plugin: Plugin<Record<string, unknown>, GraphQLServerContext> = {
    async onParams({ request, params, setResult, context }) {
      const outcome = { auth: { key: null, clientIp: context.clientIp, rateLimit: null }, authenticated: false };
      outcomes.set(request, outcome);
      try {
        await authenticateRequest(services, failures, request, params, outcome.auth);
        outcome.authenticated = true;
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        setResult({ errors: [error] });
      }
    },
    onResponse({ request, response }) {
      const rateLimit = outcomes.get(request)?.auth.rateLimit;
      if (rateLimit) setRateLimitHeaders(response.headers, rateLimit);
    },
  };

  /** The request's authentication outcome; a 401 when it was not authenticated. */
  function authOf(request: Request): RequestAuth {
    const outcome = outcomes.get(request);
    if (!outcome?.authenticated) throw httpError(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing);
    return outcome.auth;
  }

  return { plugin, authOf };
}
