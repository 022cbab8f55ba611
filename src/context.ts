import type { Actor } from './core/actor.ts';

/** Built once per request by the yoga context factory: the actor plus what only HTTP knows. */
export interface Context extends Actor {
  request: Request;
  requestId: string;
  clientIp: string | null;
}
