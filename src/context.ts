import type { AuthenticatedKey } from './auth/authenticate.ts';
import type { RateLimitDecision } from './auth/rate-limit.ts';
import { createActor, type Actor } from './core/actor.ts';
import type { Services } from './services.ts';

/** Built once per GraphQL request: the actor plus what only HTTP knows. */
export interface Context extends Actor {
  request: Request;
  requestId: string;
  clientIp: string | null;
  /** This request's rate-limit decision; null when none was taken (no HTTP request behind the context). */
  rateLimit: RateLimitDecision | null;
}

/** What the HTTP layer learned about a request before GraphQL runs. */
export interface RequestFacts {
  request: Request;
  requestId: string;
  clientIp: string | null;
  key: AuthenticatedKey | null;
  rateLimit: RateLimitDecision | null;
}

/**
 * `into`: yoga's own context object, which yoga extends with what this returns (a copy): the actor
 * is built on it, so the signal the GraphQL layer sets on the context reaches its loaders.
 */
export function createContext(services: Services, { key, ...facts }: RequestFacts, into: object = {}): Context {
  return Object.assign(createActor(services, key, null, into), facts);
}
