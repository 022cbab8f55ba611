import { RESOURCES, effectiveAccess, keyAccess } from '../rules/permissions.ts';
import type { AuthenticatedKey } from '../auth/authenticate.ts';
import { viewerWorkspaces, type WorkspaceRole } from '../core/viewer.ts';
import { ApiKeyRef, ResourceAccessRef } from './api-keys.ts';
import { builder } from './builder.ts';
import { RoleEnum } from './enums.ts';
import { ownUserOrPersonalData, UserRef } from './users.ts';
import { WorkspaceRef } from './workspace-ref.ts';

export const RateLimitRef = builder.objectRef<{ limit: number; remaining: number; resetSeconds: number }>('RateLimit').implement({
  description: "The calling key's rate limit, as of this request (also sent as RateLimit-* headers).",
  fields: (t) => ({
    limit: t.exposeInt('limit', { description: 'Requests allowed per one-minute window.' }),
    remaining: t.exposeInt('remaining', { description: 'Requests left in the current window.' }),
    resetSeconds: t.exposeInt('resetSeconds', { description: 'Seconds until the window resets.' }),
  }),
});

const WorkspaceAccessRef = builder
  .objectRef<WorkspaceRole & { key: AuthenticatedKey }>('WorkspaceAccess')
  .implement({
    description: "The key's effective access in one workspace: its scopes intersected with the user's role there.",
    fields: (t) => ({
      workspace: t.field({ type: WorkspaceRef, description: 'The workspace.', resolve: (row) => row.workspace }),
      role: t.expose('role', { type: RoleEnum, description: "The user's role in it." }),
      access: t.field({
        type: [ResourceAccessRef],
        description: 'Effective access per resource in this workspace.',
        resolve: (row) =>
          RESOURCES.map((resource) => ({
            resource,
            access: effectiveAccess(row.key.grant, resource, String(row.workspace._id), row.role),
          })),
      }),
    }),
  });

export const ViewerRef = builder.objectRef<AuthenticatedKey>('Viewer').implement({
  description: 'The calling key, its user and what it may do. Querying it is how a key is validated.',
  authScopes: { authenticated: true },
  fields: (t) => ({
    key: t.field({ type: ApiKeyRef, description: 'The calling key (metadata only).', resolve: (key) => key.doc }),
    user: t.field({
      type: UserRef,
      description: 'The user the key belongs to (readable by every key).',
      authScopes: ownUserOrPersonalData((key) => key.userId),
      resolve: async (key, _args, ctx) => (await ctx.loaders.user.load(key.userId))!,
    }),
    permissions: t.field({
      type: [ResourceAccessRef],
      description: 'The access the key grants per resource, before workspace roles.',
      resolve: (key) => RESOURCES.map((resource) => ({ resource, access: keyAccess(key.grant, resource) })),
    }),
    workspaces: t.field({
      type: [WorkspaceAccessRef],
      description: 'Every workspace the key can reach, with its effective access there.',
      resolve: async (key, _args, ctx) => (await viewerWorkspaces(ctx)).map((row) => ({ ...row, key })),
    }),
    rateLimit: t.field({
      type: RateLimitRef,
      description: "The key's rate limit as of this request.",
      resolve: (key, _args, ctx) =>
        ctx.rateLimit ?? {
          limit: key.rateLimit ?? ctx.services.config.rateLimitPerMinute,
          remaining: key.rateLimit ?? ctx.services.config.rateLimitPerMinute,
          resetSeconds: 60,
        },
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: ViewerRef,
    description: 'The calling key, its user and effective permissions: the way to validate a key.',
    resolve: (_root, _args, ctx) => ctx.key,
  }),
);
