import mongoose, { Schema, type Types } from 'mongoose';
import { chunked } from '../db/bulk.ts';

/**
 * Maintained list sizes, so that `totalCount` of an unfiltered list is one primary-key read
 * instead of a count (a scan on the embedded database). `_id` is "<kind>:<scope id>", e.g.
 * "links:<workspace id>"; `workspaceId` lets the workspace cascade delete them. Writers adjust
 * them with `$inc` after their own write, so without transactions a crash in between leaves a
 * counter off by that write: `recountCounters` (src/db/migrations.ts, `taapit-api recount`)
 * computes them all again.
 */
export interface CounterDoc {
  _id: string;
  workspaceId: Types.ObjectId;
  n: number;
}

const counterSchema = new Schema<CounterDoc>(
  {
    _id: { type: String, required: true },
    workspaceId: { type: Schema.Types.ObjectId, required: true },
    n: { type: Number, required: true, default: 0 },
  },
  { versionKey: false },
);

// For the workspace cascade; reads are by `_id`.
counterSchema.index({ workspaceId: 1 });

export const Counter = mongoose.model<CounterDoc>('Counter', counterSchema, 'counters');

export const counterId = (kind: string, scopeId: Types.ObjectId | string): string => `${kind}:${String(scopeId)}`;

/** One change to one counter. */
export interface CounterDelta {
  id: string;
  workspaceId: Types.ObjectId;
  by: number;
}

/**
 * Applies deltas, summed per counter, as upserts by `_id` in one command (per 50): a counter
 * that does not exist yet counts from 0, which is right for a new workspace or project.
 */
export async function adjustCounters(deltas: readonly CounterDelta[]): Promise<void> {
  const sums = new Map<string, CounterDelta>();
  for (const delta of deltas) {
    const sum = sums.get(delta.id);
    if (sum) sum.by += delta.by;
    else sums.set(delta.id, { ...delta });
  }
  const ops = [...sums.values()]
    .filter((sum) => sum.by !== 0)
    .map((sum) => ({
      updateOne: { filter: { _id: sum.id }, update: { $inc: { n: sum.by }, $setOnInsert: { workspaceId: sum.workspaceId } }, upsert: true },
    }));
  for (const chunk of chunked(ops)) await Counter.bulkWrite(chunk, { ordered: false });
}

/** The value of each counter (0 for one never written), read by `_id`: one exact `{ _id }` read when there is one. */
export async function counterValues(ids: readonly string[]): Promise<number[]> {
  if (ids.length === 1) {
    const doc = await Counter.findById(ids[0]!, { n: 1 }).lean<Pick<CounterDoc, '_id' | 'n'>>().exec();
    return [doc?.n ?? 0];
  }
  if (ids.length === 0) return [];
  const docs = await Counter.find({ _id: { $in: [...ids] } }, { n: 1 }).lean<Pick<CounterDoc, '_id' | 'n'>[]>().exec();
  const byId = new Map(docs.map((doc) => [doc._id, doc.n]));
  return ids.map((id) => byId.get(id) ?? 0);
}
