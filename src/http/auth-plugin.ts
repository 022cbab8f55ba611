import { createHmac } from 'node:crypto';
import { GraphQLError, parse } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { Response as AdapterResponse } from '@whatwg-node/server';
import { AUTH_MESSAGES, type AuthenticatedKey, type AuthFailure, type Credential } from '../auth/authenticate.ts';
import { AuthFailureThrottle, type RateLimitDecision } from '../auth/rate-limit.ts';
import type { ForbiddenReason } from '../errors.ts';
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

/** A request refused before GraphQL runs: a plain value, made into a response or a GraphQLError by who answers. */
interface Refusal {
  status: number;
  code: string;
  /** Why a FORBIDDEN refused. */
  reason?: ForbiddenReason;
  message: string;
  headers?: Record<string, string>;
}

function refusal(status: number, code: string, message: string, extraHeaders?: Record<string, string>): Refusal {
  const headers = status === 401 ? { 'WWW-Authenticate': 'Bearer realm="taapit-api"', ...extraHeaders } : extraHeaders;
  return { status, code, message, ...(headers ? { headers } : {}) };
}

/** What a refusal's error carries besides its message: the code, and the reason of a FORBIDDEN. */
function refusalExtensions({ code, reason }: Refusal): { code: string; reason?: ForbiddenReason } {
  return reason ? { code, reason } : { code };
}

function rateLimited(message: string, decision: RateLimitDecision): Refusal {
  return refusal(429, 'RATE_LIMITED', message, { 'Retry-After': String(decision.resetSeconds) });
}

/** Yoga answers a GraphQLError with `extensions.http` with that status and those headers. */
function asGraphQLError(refused: Refusal): GraphQLError {
  const { status, message, headers } = refused;
  return new GraphQLError(message, { extensions: { ...refusalExtensions(refused), http: { status, ...(headers ? { headers } : {}) } } });
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

/** The address's window id: an HMAC of the address, so the shared store never holds IPs. */
export function addressId(services: Services, clientIp: string | null): string {
  return createHmac('sha256', services.pepper)
    .update(clientIp ? normalizeIp(clientIp) : 'unknown')
    .digest('base64url')
    .slice(0, 22);
}

/**
 * GraphiQL's template header (`Bearer taapit_...`): nobody has pasted a key yet. It counts as no
 * key, so the page's first schema fetch is answered; any other document gets the placeholder's 401.
 */
function isPlaceholder(credential: Credential): credential is { kind: 'failure'; failure: AuthFailure } {
  return credential.kind === 'failure' && credential.failure.message === AUTH_MESSAGES.placeholder;
}

/**
 * An anonymous request: limited per address, before the document is parsed, then allowed only
 * for an introspection-only operation. Returns the refusal (401 or 429) otherwise: `missing`, or
 * the placeholder's own 401 for GraphiQL's template header.
 */
async function authenticateAnonymous(
  services: Services,
  params: { query?: string; operationName?: string | null },
  auth: RequestAuth,
  missing: Refusal = refusal(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing),
): Promise<Refusal | null> {
  const limit = services.config.anonymousRateLimitPerMinute;
  const decision = await services.rateLimiter.hit(`ip:${addressId(services, auth.clientIp)}`, limit);
  auth.rateLimit = decision;
  if (!decision.allowed) {
    services.metrics?.auth('rate_limited');
    return rateLimited(
      `Rate limit of ${limit} anonymous requests per minute exceeded for this address: retry after ${decision.resetSeconds} s, or send an API key.`,
      decision,
    );
  }
  const allowed = anonymousAllowed(services, params.query, params.operationName);
  services.metrics?.auth(allowed ? 'anonymous' : 'missing');
  return allowed ? null : missing;
}

/**
 * A request presenting a credential: fills `auth` with its key and rate-limit decision and
 * records usage, or returns the refusal (401, 403 or 429). Needs no document.
 */
/** How long a request waits for the key checks in flight from its address before it is throttled. */
const IN_FLIGHT_WAIT_MS = 2000;

async function authenticateKey(services: Services, failures: AuthFailureThrottle, credential: Credential, auth: RequestAuth): Promise<Refusal | null> {
  const { clientIp } = auth;
  // A key this instance has already verified skips the failure throttle; any other attempt from
  // an address with too many recent failures is refused before the key is looked up.
  let throttled = services.authenticator.isKnownGood(credential, clientIp) ? null : addressId(services, clientIp);
  const deadline = Date.now() + IN_FLIGHT_WAIT_MS;
  while (throttled) {
    const wait = failures.begin(throttled);
    if (wait === 0) break;
    // The attempts in flight may be this very key, which is then known good: wait for them rather
    // than refuse a burst of requests with a valid key the cache has not seen yet.
    if (wait === 'in-flight' && Date.now() < deadline) {
      await failures.settled(throttled, deadline - Date.now());
      if (services.authenticator.isKnownGood(credential, clientIp)) throttled = null;
      continue;
    }
    const seconds = wait === 'in-flight' ? 1 : wait;
    services.metrics?.auth('rate_limited');
    return refusal(
      429,
      'RATE_LIMITED',
      `Too many failed authentication attempts from this address: retry after ${seconds} s with a valid API key.`,
      { 'Retry-After': String(seconds) },
    );
  }
  let outcome;
  try {
    outcome = await services.authenticator.authenticate(credential, clientIp);
  } finally {
    if (throttled) await failures.settle(throttled, outcome?.kind === 'failure' && outcome.failure.failedAttempt);
  }
  if (outcome.kind === 'failure') {
    services.metrics?.auth(outcome.failure.cause === 'ip' ? 'ip_refused' : outcome.failure.cause);
    const { status, code, message, reason } = outcome.failure;
    return { ...refusal(status, code, message), ...(reason ? { reason } : {}) };
  }
  if (outcome.kind === 'anonymous') {
    services.metrics?.auth('missing');
    return refusal(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing);
  }
  const key = outcome.key;
  const store = requestStore.getStore();
  if (store) store.keyId = key.id;
  const limit = key.rateLimit ?? services.config.rateLimitPerMinute;
  const decision = await services.rateLimiter.hit(key.id, limit);
  auth.rateLimit = decision;
  if (!decision.allowed) {
    services.metrics?.auth('rate_limited');
    return rateLimited(`Rate limit of ${limit} requests per minute exceeded for this key: retry after ${decision.resetSeconds} s.`, decision);
  }
  services.metrics?.auth('valid');
  services.usage.record(key.id, clientIp);
  auth.key = key;
  return null;
}

/**
 * The JSON media type yoga answers with for this Accept header (the first entry naming one
 * wins, `application/json` for wildcards), or null when it would not answer plain JSON.
 */
export function graphqlJsonType(accept: string | null): string | null {
  if (!accept || accept === '*/*' || accept === 'application/json') return 'application/json';
  for (const entry of (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',')) {
    const [mediaType = '', ...params] = entry.split(';');
    const charset = params.find((param) => param.includes('charset='));
    if (charset && charset !== 'charset=utf-8') continue;
    const [type, subtype] = mediaType.split('/');
    if (type !== '*' && type !== 'application') continue;
    if (subtype === '*' || subtype === 'json') return 'application/json';
    if (subtype === 'graphql-response+json') return 'application/graphql-response+json';
  }
  return null;
}

/**
 * A refusal as yoga would send it, for answers given before yoga runs. Built with the server
 * adapter's Response, which it writes to node without a stream (the global one costs more than the check).
 */
function refusalResponse(refused: Refusal, contentType: string, rateLimit: RateLimitDecision | null): Response {
  const { status, message, headers: extra } = refused;
  const response = new AdapterResponse(JSON.stringify({ errors: [{ message, extensions: refusalExtensions(refused) }] }), {
    status,
    headers: { 'Content-Type': `${contentType}; charset=utf-8`, ...extra },
  });
  if (rateLimit) setRateLimitHeaders(response.headers, rateLimit);
  return response;
}

/**
 * Authentication, once per request: a key before the body is read (`authenticate`, called by the
 * app), else as soon as the GraphQL parameters are known and before parsing and validation, so a
 * bad key is a 401 whatever the document. Anonymous requests are limited per address, failed
 * attempts throttled per address, keys limited per key; every response that counted in a window
 * carries RateLimit-* headers. `authOf(request)` hands the
 * outcome to the context factory.
 */
export function createAuthPlugin(services: Services) {
  const failures = new AuthFailureThrottle(services.rateLimiter, services.config.authFailureLimitPerMinute);
  const outcomes = new WeakMap<Request, { auth: RequestAuth; authenticated: boolean }>();

  /**
   * For the app, before it reads a POST body: a request presenting a credential is authenticated
   * here, once, so a bad key costs no body, no parsing and no GraphQL context. Answers a refusal
   * as yoga would; otherwise leaves the outcome on the server context and returns null.
   */
  async function authenticate(request: Request, context: GraphQLServerContext): Promise<Response | null> {
    const credential = services.authenticator.credential(request.headers.get('authorization'));
    // Anonymous requests (the placeholder too) depend on their document; an unusual Accept is negotiated by yoga.
    if (credential.kind === 'anonymous' || isPlaceholder(credential)) return null;
    const contentType = graphqlJsonType(request.headers.get('accept'));
    if (!contentType) return null;
    const auth: RequestAuth = { key: null, clientIp: context.clientIp, rateLimit: null };
    const refused = await authenticateKey(services, failures, credential, auth);
    if (refused) return refusalResponse(refused, contentType, auth.rateLimit);
    context.auth = auth;
    return null;
  }

  const plugin: Plugin<Record<string, unknown>, GraphQLServerContext> = {
    async onParams({ request, params, setResult, context }) {
      if (context.auth) {
        outcomes.set(request, { auth: context.auth, authenticated: true });
        return;
      }
      const outcome = { auth: { key: null, clientIp: context.clientIp, rateLimit: null }, authenticated: false };
      outcomes.set(request, outcome);
      const credential = services.authenticator.credential(request.headers.get('authorization'));
      const refused =
        credential.kind === 'anonymous'
          ? await authenticateAnonymous(services, params, outcome.auth)
          : isPlaceholder(credential)
            ? await authenticateAnonymous(services, params, outcome.auth, refusal(401, credential.failure.code, credential.failure.message))
            : await authenticateKey(services, failures, credential, outcome.auth);
      if (refused) setResult({ errors: [asGraphQLError(refused)] });
      else outcome.authenticated = true;
    },
    onResponse({ request, response }) {
      const rateLimit = outcomes.get(request)?.auth.rateLimit;
      if (rateLimit) setRateLimitHeaders(response.headers, rateLimit);
    },
  };

  /** The request's authentication outcome; a 401 when it was not authenticated. */
  function authOf(request: Request): RequestAuth {
    const outcome = outcomes.get(request);
    if (!outcome?.authenticated) throw asGraphQLError(refusal(401, 'UNAUTHENTICATED', AUTH_MESSAGES.missing));
    return outcome.auth;
  }

  /** The request's key once authenticated: null for anonymous introspection, undefined when refused or not yet decided. */
  function keyOf(request: Request): AuthenticatedKey | null | undefined {
    const outcome = outcomes.get(request);
    return outcome?.authenticated ? outcome.auth.key : undefined;
  }

  return { plugin, authOf, authenticate, keyOf };
}
