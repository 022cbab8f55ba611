import type { AuthenticatedKey } from '../auth/authenticate.ts';
import { rolesOf } from '../models/user-roles.ts';
import type { Role } from '../rules/permissions.ts';
import type { Services } from '../services.ts';
import { createLoaders, type Loaders } from './loaders.ts';

/**
 * Who is acting, and what every use case needs to act for them: the key (null for anonymous
 * introspection and for the trusted CLI), the user's roles by workspace (loaded once, on first
 * use), per-request batched loaders that hide what the key may not see, and the services.
 * The GraphQL context is an Actor; the CLI, the redirect and jobs build one with createActor.
 */
export interface Actor {
  key: AuthenticatedKey | null;
  /**
   * The user the trusted CLI acts as (`workspace create --user`): no key, so nothing narrows that
   * user's roles. Null with a key (the key's user acts) and for anonymous introspection.
   */
  userId: string | null;
  services: Services;
  loaders: Loaders;
  memberships(): Promise<Map<string, Role>>;
  /**
   * Aborts when the client has gone away: the loaders then issue no more reads for it. Set for
   * GraphQL queries; none for mutations, the CLI and jobs, whose writes always run to the end.
   */
  signal?: AbortSignal;
  /** Where the request came from, recorded with the audit events it causes; none for the CLI and jobs. */
  origin?: RequestOrigin;
}

export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/** `into`: the object to make the actor of (the GraphQL layer's own context), so that what is set on it later reaches the loaders. */
export function createActor(services: Services, key: AuthenticatedKey | null, asUserId: string | null = null, into: object = {}): Actor {
  let memberships: Promise<Map<string, Role>> | undefined;
  const rolesFor = async (userId: string) => {
    actor.signal?.throwIfAborted();
    return rolesOf(userId);
  };
  const actor: Actor = Object.assign(into, {
    key,
    userId: key ? null : asUserId,
    services,
    memberships: () => {
      const userId = key?.userId ?? asUserId;
      return (memberships ??= userId ? rolesFor(userId) : Promise.resolve(new Map<string, Role>()));
    },
    loaders: undefined as never,
  });
  // The loaders read actor.signal when they run: the GraphQL layer sets it once it knows the operation.
  actor.loaders = createLoaders(actor);
  // The key's user comes cached with the key: asking for it (viewer, own e-mail) costs no read.
  if (key?.user) actor.loaders.user.prime(key.userId, key.user);
  return actor;
}
