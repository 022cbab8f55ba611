import { Types, type Model, type QueryFilter, type SortOrder } from 'mongoose';
import type { Actor } from './actor.ts';

/** A list read page by page: what a connection needs, without knowing where the rows come from. */
export interface Listing<T> {
  slice(offset: number, limit: number): Promise<T[]>;
  count(): Promise<number>;
}

/** A query as a Listing. `_id` breaks ties of the sort, so that pages never overlap or skip a row. */
export function listing<T>(model: Model<T>, filter: QueryFilter<T>, sort: Record<string, SortOrder>): Listing<T> {
  return {
    slice: (offset, limit) =>
      model
        .find(filter)
        .sort({ ...sort, _id: -1 })
        .skip(offset)
        .limit(limit)
        .lean<T[]>()
        .exec(),
    count: () => model.countDocuments(filter).exec(),
  };
}

/**
 * The workspaces a list may cover: the requested one if the actor may see it (else none, as for
 * a workspace that does not exist), or every workspace it may see.
 */
export async function visibleWorkspaceIds(actor: Actor, requested: Types.ObjectId | null): Promise<Types.ObjectId[]> {
  const visible = await actor.loaders.visibleWorkspaces();
  if (!requested) return [...visible].map((id) => new Types.ObjectId(id));
  return visible.has(String(requested)) ? [requested] : [];
}

/**
 * Which workspaces a workspace-owned list covers: one already loaded for the actor (a `Workspace`
 * field, a mutation payload), or a requested id checked here (null: every visible workspace).
 */
export type WorkspaceScope = { workspace: { _id: Types.ObjectId } } | { workspaceId: Types.ObjectId | null };

export async function scopeWorkspaceIds(actor: Actor, scope: WorkspaceScope): Promise<Types.ObjectId[]> {
  return 'workspace' in scope ? [scope.workspace._id] : visibleWorkspaceIds(actor, scope.workspaceId);
}
