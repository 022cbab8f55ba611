import type { AuthenticatedKey } from './auth/authenticate.ts';
import type { RequestCost } from './auth/points.ts';
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
  /** This operation's requested cost and points budget, set just before it executes (GraphQL over HTTP only). */
  cost?: RequestCost;
  /** Set on the view `authorize` checks a document through: its checks are not uses of a permission. */
  dryRun?: boolean;
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
  const origin = { ip: facts.clientIp, userAgent: facts.request.headers.get('user-agent'), requestId: facts.requestId };
  const context = Object.assign(createActor(services, key, null, into), facts, { origin });
  // In memory unless this instance has not seen the key at this address yet (then at the next flush).
  services.audit.noteKeyUse(context);
  return context;
}
