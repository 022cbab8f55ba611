import type { Types } from 'mongoose';
import type { ObjectRef } from '@pothos/core';
import type { Actor } from '../core/actor.ts';
import type { Listing, WorkspaceScope } from '../core/listing.ts';
import type { Resource } from '../rules/permissions.ts';
import { builder, type BuilderTypes } from './builder.ts';
import { workspaceArg } from './guards.ts';
import { parseQueryIdArg } from './ids.ts';
import { connectionType, paginateListing } from './pagination.ts';
import { WorkspaceRef } from './workspace-ref.ts';

/** The optional `workspaceId` argument of a list: null when omitted, BAD_USER_INPUT when malformed. */
function workspaceArgument(globalId: string | null | undefined): Types.ObjectId | null {
  return globalId === null || globalId === undefined ? null : parseQueryIdArg(globalId, 'Workspace', 'workspaceId');
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
  /** The core listing of the workspaces in scope. */
  list: (actor: Actor, scope: WorkspaceScope) => Promise<Listing<T>>;
  connection: ReturnType<typeof connectionType<T>>;
}): void {
  const { field, plural, resource, type, list, connection } = options;
  const authScopes = { access: { resource, level: 'READ' as const } };
  builder.queryField(field, (t) =>
    t.connection(
      {
        type,
        nullable: true,
        description: `The ${plural} of a workspace (or of every workspace the key can reach), newest first.`,
        authScopes: (_root, args: { workspaceId?: string | null }) => ({ ...authScopes, compliantWorkspace: workspaceArg(args.workspaceId) }),
        args: { workspaceId: t.arg.id({ description: 'Only this workspace; omit for all.' }) },
        resolve: async (_root, args, ctx) => paginateListing(await list(ctx, { workspaceId: workspaceArgument(args.workspaceId) }), args),
      },
      connection,
    ),
  );
  builder.objectField(WorkspaceRef, field, (t) =>
    t.connection(
      {
        type,
        description: `This workspace's ${plural}, newest first.`,
        authScopes,
        resolve: async (workspace, args, ctx) => paginateListing(await list(ctx, { workspace }), args),
      },
      connection,
    ),
  );
}
