import { Types, type Model } from 'mongoose';
import type { ObjectRef } from '@pothos/core';
import type { Resource } from '../rules/permissions.ts';
import type { Context } from '../context.ts';
import { builder, type BuilderTypes } from './builder.ts';
import { parseQueryIdArg } from './ids.ts';
import { connectionType, paginate } from './pagination.ts';
import { WorkspaceRef } from './workspace-ref.ts';

/**
 * The workspace ids a list may cover: the requested one if visible (else none), or every visible
 * one. A malformed `workspaceId` is a BAD_USER_INPUT error.
 */
export async function visibleWorkspaceFilter(ctx: Context, globalId: string | null | undefined): Promise<Types.ObjectId[]> {
  const requested = globalId === null || globalId === undefined ? null : parseQueryIdArg(globalId, 'Workspace', 'workspaceId');
  const visible = await ctx.loaders.visibleWorkspaces();
  if (!requested) return [...visible].map((id) => new Types.ObjectId(id));
  return visible.has(String(requested)) ? [requested] : [];
}

/**
 * The two ways to list a workspace-owned type, newest first: `Query.<field>(workspaceId)` over
 * the key's workspaces, and `Workspace.<field>`. Both need `<resource>:read`.
 */
export function workspaceLists<T extends { workspaceId: Types.ObjectId }>(options: {
  field: string;
  plural: string;
  resource: Resource;
  type: ObjectRef<BuilderTypes, T>;
  model: Model<T>;
  connection: ReturnType<typeof connectionType<T>>;
}): void {
  const { field, plural, resource, type, model, connection } = options;
  const authScopes = { access: { resource, level: 'READ' as const } };
  builder.queryField(field, (t) =>
    t.connection(
      {
        type,
        nullable: true,
        description: `The ${plural} of a workspace (or of every workspace the key can reach), newest first.`,
        authScopes,
        args: { workspaceId: t.arg.id({ description: 'Only this workspace; omit for all.' }) },
        resolve: async (_root, args, ctx) =>
          paginate(model, { workspaceId: { $in: await visibleWorkspaceFilter(ctx, args.workspaceId) } }, { createdAt: -1 }, args),
      },
      connection,
    ),
  );
  builder.objectField(WorkspaceRef, field, (t) =>
    t.connection(
      {
        type,
        description: `This workspace's ${plural}, newest first (${resource.toLowerCase()}:read).`,
        authScopes,
        resolve: (workspace, args) => paginate(model, { workspaceId: workspace._id }, { createdAt: -1 }, args),
      },
      connection,
    ),
  );
}
