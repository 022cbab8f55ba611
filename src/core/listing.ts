import { Types, type Model, type QueryFilter } from 'mongoose';
import { readerOf } from '../db/read-connection.ts';
import type { Actor } from './actor.ts';

/** A sort value: a date, a number, or null (missing, sorted before every value as MongoDB does). */
export type SortValue = Date | number | null;

/** Where a row sits in its list: its sort value, then its id (which breaks ties). */
export interface Position {
  value: SortValue;
  id: Types.ObjectId;
}

/** How a list is sorted. `key` names the list and its order: a position of another list means nothing here. */
export interface ListOrder {
  key: string;
  field: string;
  /** 1: smallest first; -1: largest first. `_id` breaks ties in the same direction. */
  direction: 1 | -1;
  type: 'date' | 'number';
}

/** Which rows a page holds: strictly between `after` and `before`, the first `limit` (the last when `backward`). */
export interface PageRequest {
  after: Position | null;
  before: Position | null;
  limit: number;
  backward: boolean;
}

/** A list read page by page (keyset: each page starts from a row's position, never an offset). */
export interface Listing<T> {
  order: ListOrder;
  positionOf(row: T): Position;
  /** The rows of the page in list order, or nearest `before` first when `backward`. */
  page(request: PageRequest): Promise<T[]>;
  /** Whether any row sits at `position` or on that `side` of it (edges beyond a page's cursor). */
  reaches(position: Position, side: 'before' | 'after'): Promise<boolean>;
  count(): Promise<number>;
}

/**
 * Rows that come after `position` in `direction` (or at it, when `inclusive`): a larger value, or
 * the same value and a larger `_id` (smaller for -1). Null sorts below every value, as on MongoDB.
 */
function comesAfter(field: string, direction: 1 | -1, { value, id }: Position, inclusive: boolean): QueryFilter<any> {
  const idOp = direction === 1 ? (inclusive ? '$gte' : '$gt') : inclusive ? '$lte' : '$lt';
  const tie = { [field]: value, _id: { [idOp]: id } };
  if (direction === 1) return { $or: [{ [field]: value === null ? { $ne: null } : { $gt: value } }, tie] };
  return value === null ? tie : { $or: [{ [field]: { $lt: value } }, { [field]: null }, tie] };
}

/**
 * A query as a Listing sorted by `order` then `_id`: a page is one range read (on MongoDB, of an
 * index on the filter's fields, the sort field and `_id`). `count` replaces counting the filter,
 * e.g. with a maintained counter. Reads go through the read connection.
 */
export function listing<T extends { _id: Types.ObjectId }>(
  model: Model<T>,
  filter: QueryFilter<T>,
  order: ListOrder,
  count?: () => Promise<number>,
): Listing<T> {
  const { field, direction } = order;
  const within = (...conditions: QueryFilter<any>[]) => (conditions.length ? { $and: [filter, ...conditions] } : filter) as QueryFilter<T>;
  return {
    order,
    positionOf: (row) => ({ value: ((row as Record<string, unknown>)[field] as SortValue | undefined) ?? null, id: row._id }),
    page: ({ after, before, limit, backward }) => {
      const conditions = [...(after ? [comesAfter(field, direction, after, false)] : []), ...(before ? [comesAfter(field, -direction as 1 | -1, before, false)] : [])];
      const way = backward ? -direction : direction;
      return readerOf(model)
        .find(within(...conditions))
        .sort({ [field]: way, _id: way } as Record<string, 1 | -1>)
        .limit(limit)
        .lean<T[]>()
        .exec();
    },
    reaches: async (position, side) => {
      const beyond = comesAfter(field, (side === 'after' ? direction : -direction) as 1 | -1, position, true);
      return (await readerOf(model).findOne(within(beyond), { _id: 1 }).lean().exec()) !== null;
    },
    count: count ?? (() => readerOf(model).countDocuments(filter).exec()),
  };
}

/** Newest first, by creation time: the order of most lists. */
export const newestFirst = (list: string): ListOrder => ({ key: `${list}.createdAt.-1`, field: 'createdAt', direction: -1, type: 'date' });

/**
 * The workspaces a list may cover: the requested one if the actor may see it (else none, as for
 * a workspace that does not exist), or every workspace it may see. Workspaces whose key policy
 * the key breaks are left out (asked for by id, the field's auth rule refuses them first).
 */
export async function visibleWorkspaceIds(actor: Actor, requested: Types.ObjectId | null): Promise<Types.ObjectId[]> {
  if (!requested) return [...(await actor.loaders.compliantWorkspaces())].map((id) => new Types.ObjectId(id));
  // One workspace asked for: only its policy is read, not those of every workspace of the user.
  const id = String(requested);
  if (!(await actor.loaders.visibleWorkspaces()).has(id)) return [];
  return (await actor.loaders.policyViolation(id)) === null ? [requested] : [];
}

/**
 * Which workspaces a workspace-owned list covers: one already loaded for the actor (a `Workspace`
 * field, a mutation payload), or a requested id checked here (null: every visible workspace).
 */
export type WorkspaceScope = { workspace: { _id: Types.ObjectId } } | { workspaceId: Types.ObjectId | null };

export async function scopeWorkspaceIds(actor: Actor, scope: WorkspaceScope): Promise<Types.ObjectId[]> {
  return 'workspace' in scope ? [scope.workspace._id] : visibleWorkspaceIds(actor, scope.workspaceId);
}
