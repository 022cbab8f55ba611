import type { AuthenticatedKey } from './auth/authenticate.ts';
import type { Role } from './auth/permissions.ts';
import type { Loaders } from './schema/loaders.ts';
import type { Services } from './services.ts';

/** Built once per request by the yoga context factory. */
export interface Context {
  request: Request;
  requestId: string;
  clientIp: string | null;
  /** The authenticated key; null only for anonymous introspection-only operations. */
  key: AuthenticatedKey | null;
  services: Services;
  loaders: Loaders;
  /** The key's user's roles by workspace id, loaded once per request and only when needed. */
  memberships(): Promise<Map<string, Role>>;
}
