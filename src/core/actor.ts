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
  services: Services;
  loaders: Loaders;
  memberships(): Promise<Map<string, Role>>;
}

export function createActor(services: Services, key: AuthenticatedKey | null): Actor {
  let memberships: Promise<Map<string, Role>> | undefined;
  const scope = {
    key,
    memberships: () => (memberships ??= key ? rolesOf(key.userId) : Promise.resolve(new Map<string, Role>())),
  };
  return { key, services, loaders: createLoaders(scope), memberships: scope.memberships };
}
