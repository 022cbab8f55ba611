import { Types } from 'mongoose';
import type { Context } from '../context.ts';
import { Workspace, type WorkspaceDoc } from '../models/workspace.ts';
import { builder } from './builder.ts';
import { loadAll } from './loaders.ts';
import { RoleEnum } from './enums.ts';
import { WorkspaceRef } from './workspace-ref.ts';

export const WorkspaceNode = builder.node(WorkspaceRef, {
  description: 'A team space that owns projects, links, domains and their analytics.',
  authScopes: (workspace) => ({ visibleWorkspace: String(workspace._id) }),
  id: { resolve: (workspace) => String(workspace._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.workspace, ids),
  isTypeOf: (value) => value instanceof Object && 'createdByUserId' in value && !('workspaceId' in value),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The workspace name.' }),
    viewerRole: t.field({
      type: RoleEnum,
      description: "The role of the calling key's user in this workspace.",
      resolve: async (workspace, _args, ctx) => (await ctx.memberships()).get(String(workspace._id))!,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed.' }),
  }),
});

void Workspace;
void Types;
export type { WorkspaceDoc };
