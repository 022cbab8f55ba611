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
import { keyPolicyMessage } from '../rules/key-policy.ts';
import { auditPolicyRefusal } from '../core/audit.ts';
import type { Context } from '../context.ts';
import type { ForbiddenReason } from '../errors.ts';
import type { WorkspaceRoleScope } from './builder.ts';

interface AccessParam {
  resource: Resource;
  level: Access;
}

/** The scope loaders: synchronous where the key alone decides, one cached membership query otherwise. */
export function authScopesFor(ctx: Context) {
  const key = ctx.key;
  // Permissions whose check passed in this request: each is recorded once per request (permissionUsage).
  const used = new Set<string>();
  const use = (permission: string | null) => {
    if (!key || permission === null || ctx.dryRun || used.has(permission)) return;
    used.add(permission);
    ctx.services.usage.recordPermission(key.id, permission);
  };
  const granted = (passed: boolean, permission: string | null) => {
    if (passed) use(permission);
    return passed;
  };
  return {
    authenticated: key !== null,
    keys: (level: 'READ' | 'WRITE') =>
      key !== null && granted(level === 'READ' ? canReadKeys(key.grant) : canWriteKeys(key.grant), permissionName('KEYS', level)),
    access: ({ resource, level }: AccessParam) =>
      key !== null && granted(atLeast(keyAccess(key.grant, resource), level), level === 'NONE' ? null : permissionName(resource, level)),
    workspaceRole: async ({ workspaceId, resource, level }: AccessParam & { workspaceId: string }) => {
      if (!key) return false;
      const role = (await ctx.memberships()).get(workspaceId);
      if (!role || !keyAllowsWorkspace(key.grant, workspaceId)) return true; // invisible: resolver answers NOT_FOUND
      if ((await ctx.loaders.policyViolation(workspaceId)) !== null) return false; // FORBIDDEN, reason POLICY
      return atLeast(effectiveAccess(key.grant, resource, workspaceId, role), level);
    },
    visibleWorkspace: async (workspaceId: string) => {
      if (!key || !keyAllowsWorkspace(key.grant, workspaceId)) return false;
      if (!(await ctx.memberships()).has(workspaceId)) return false;
      return (await ctx.loaders.policyViolation(workspaceId)) === null;
    },
    // A list narrowed to one workspace: refused when the key breaks that workspace's key policy;
    // an invisible workspace passes, and the list is empty as for one that does not exist.
    compliantWorkspace: async (workspaceId: string | null) => {
      if (!key || workspaceId === null || !keyAllowsWorkspace(key.grant, workspaceId)) return true;
      if (!(await ctx.memberships()).has(workspaceId)) return true;
      return (await ctx.loaders.policyViolation(workspaceId)) === null;
    },
    // A loader rather than a value, so that it is checked after `access` and a key lacking
    // workspaces:write is told so first.
    unrestrictedKey: () => key !== null && key.grant.workspaces.length === 0,
  };
}

/** The permission a failed check was missing, e.g. `links:write`; null when not a permission. */
export function requiredPermission(failure: AuthFailure): string | null {
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

/** The workspace a failed workspace check was about. */
function workspaceOfFailure(scope: string | undefined, parameter: unknown): string | null {
  if (scope === 'visibleWorkspace' || scope === 'compliantWorkspace') return parameter === null ? null : String(parameter);
  if (scope === 'workspaceRole') return (parameter as WorkspaceRoleScope).workspaceId;
  return null;
}

/** FORBIDDEN, reason POLICY, when a workspace check failed because the key breaks that workspace's key policy. */
/** Policy refusals already audited per request: several refused fields of one workspace are one event. */
const auditedRefusals = new WeakMap<object, Set<string>>();

/** Audits a key refused by a workspace's policy, once per request, workspace and rule; a dry run refuses nothing. */
function recordPolicyRefusal(ctx: Context, workspaceId: string, rule: string): void {
  if (ctx.dryRun) return;
  const request: object = ctx.request ?? ctx;
  const seen = auditedRefusals.get(request) ?? new Set<string>();
  auditedRefusals.set(request, seen);
  const id = `${workspaceId}:${rule}`;
  if (seen.has(id)) return;
  seen.add(id);
  auditPolicyRefusal(ctx, workspaceId, rule);
}

function policyRefusal(ctx: Context, scope: string | undefined, parameter: unknown): GraphQLError | null {
  const workspaceId = workspaceOfFailure(scope, parameter);
  const refusal = workspaceId === null ? undefined : ctx.loaders?.knownPolicyViolation(workspaceId);
  if (!refusal) return null;
  recordPolicyRefusal(ctx, workspaceId!, refusal.rule);
  return new GraphQLError(keyPolicyMessage(refusal.rule, refusal.policy), {
    extensions: { code: 'FORBIDDEN', reason: 'POLICY', policy: refusal.rule },
  });
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
  const refusedBy = policyRefusal(ctx, scope, failed?.parameter);
  if (refusedBy) return refusedBy;
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

