import { GraphQLError, type GraphQLResolveInfo } from 'graphql';
import { AuthScopeFailureType, type AuthFailure, type ForbiddenResult } from '@pothos/plugin-scope-auth';
import {
  atLeast,
  canReadKeys,
  canWriteKeys,
  effectiveAccess,
  keyAccess,
  keyAllowsWorkspace,
  permissionName,
  type Access,
  type Resource,
} from '../rules/permissions.ts';
import type { Context } from '../context.ts';
import type { ForbiddenReason } from '../errors.ts';

interface AccessParam {
  resource: Resource;
  level: Access;
}

/** The scope loaders: synchronous where the key alone decides, one cached membership query otherwise. */
export function authScopesFor(ctx: Context) {
  const key = ctx.key;
  return {
    authenticated: key !== null,
    keys: (level: 'READ' | 'WRITE') => key !== null && (level === 'READ' ? canReadKeys(key.grant) : canWriteKeys(key.grant)),
    access: ({ resource, level }: AccessParam) => key !== null && atLeast(keyAccess(key.grant, resource), level),
    workspaceRole: async ({ workspaceId, resource, level }: AccessParam & { workspaceId: string }) => {
      if (!key) return false;
      const role = (await ctx.memberships()).get(workspaceId);
      if (!role || !keyAllowsWorkspace(key.grant, workspaceId)) return true; // invisible: resolver answers NOT_FOUND
      return atLeast(effectiveAccess(key.grant, resource, workspaceId, role), level);
    },
    visibleWorkspace: async (workspaceId: string) => {
      if (!key || !keyAllowsWorkspace(key.grant, workspaceId)) return false;
      return (await ctx.memberships()).has(workspaceId);
    },
    // A loader rather than a value, so that it is checked after `access` and a key lacking
    // workspaces:write is told so first.
    unrestrictedKey: () => key !== null && key.grant.workspaces.length === 0,
  };
}

/** The permission a failed check was missing, e.g. `links:write`; null when not a permission. */
function requiredPermission(failure: AuthFailure): string | null {
  switch (failure.kind) {
    case AuthScopeFailureType.AuthScope: {
      if (failure.scope === 'keys') return permissionName('KEYS', failure.parameter as Access);
      // A restricted key may only act inside its workspaces: creating one is beyond its workspaces:write.
      if (failure.scope === 'unrestrictedKey') return permissionName('WORKSPACES', 'WRITE');
      if (failure.scope === 'access' || failure.scope === 'workspaceRole') {
        const { resource, level } = failure.parameter as AccessParam;
        return permissionName(resource, level);
      }
      return null;
    }
    case AuthScopeFailureType.AllAuthScopes:
    case AuthScopeFailureType.AnyAuthScopes:
      for (const inner of failure.failures) {
        const found = requiredPermission(inner);
        if (found) return found;
      }
      return null;
    default:
      return null;
  }
}

function failedScope(failure: AuthFailure): { scope: string; parameter: unknown } | null {
  if (failure.kind === AuthScopeFailureType.AuthScope) return { scope: failure.scope, parameter: failure.parameter };
  if (failure.kind === AuthScopeFailureType.AllAuthScopes || failure.kind === AuthScopeFailureType.AnyAuthScopes) {
    for (const inner of failure.failures) {
      const found = failedScope(inner);
      if (found) return found;
    }
  }
  return null;
}

export function forbidden(permission: string, reason: ForbiddenReason, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'FORBIDDEN', reason, requiredPermission: permission } });
}

/** FORBIDDEN with why (the key's permission or the user's role) and the missing permission, in the message and in extensions. */
export function unauthorizedError(_parent: unknown, ctx: Context, info: GraphQLResolveInfo, result: ForbiddenResult) {
  if (!ctx.key) {
    return new GraphQLError('Missing API key: only introspection works without one.', {
      extensions: { code: 'UNAUTHENTICATED' },
    });
  }
  const permission = requiredPermission(result.failure);
  const failed = failedScope(result.failure);
  const scope = failed?.scope;
  const field = `${info.parentType.name}.${info.fieldName}`;
  if (permission && scope === 'workspaceRole') {
    return forbidden(
      permission,
      'ROLE',
      `Your role in this workspace does not allow ${permission} (needed by ${field}); ask a workspace owner.`,
    );
  }
  if (permission && scope === 'unrestrictedKey') {
    return forbidden(
      permission,
      'SCOPE',
      `This API key is restricted to some workspaces and so cannot create new ones (${field}); use an unrestricted key.`,
    );
  }
  if (permission) return forbidden(permission, 'SCOPE', `This API key lacks the ${permission} permission needed by ${field}.`);
  // An object of a workspace the key may not see: restricted away by the key, or the user is no member.
  const workspaceId = scope === 'visibleWorkspace' ? String(failed!.parameter) : null;
  const reason = workspaceId && keyAllowsWorkspace(ctx.key.grant, workspaceId) ? 'ROLE' : 'SCOPE';
  return forbidden('workspace:access', reason, `This API key may not access this object (${field}).`);
}

