import type { Types } from 'mongoose';
import { Counter, type CounterDoc } from '../models/counter.ts';
import { Link, linkCounterDeltas, type LinkDoc } from '../models/link.ts';
import { bulkWriteInChunks } from './bulk.ts';
import { insertMissing } from './unique.ts';

/** The counters that recountLinkCounters owns: any other kind is left alone. */
const LINK_COUNTER = /^(links|archivedLinks|projectLinks):/;

/**
 * Computes the link counters (src/models/counter.ts) from the links, in one scan. `missingOnly`
 * (the first migration) creates only counters that do not exist yet, so a counter another
 * process already writes is left alone; otherwise every link counter is set to its count (0 for
 * one that counts nothing now): the repair after a crash between a write and its `$inc`. A
 * write running at the same moment may be counted twice or not at all: recount when writes are
 * quiet, or again. Returns how many counters it wrote.
 */
export async function recountLinkCounters(options: { missingOnly: boolean }): Promise<number> {
  const links = await Link.find({}, { workspaceId: 1, archived: 1, projectId: 1 })
    .lean<Pick<LinkDoc, '_id' | 'workspaceId' | 'archived' | 'projectId'>[]>()
    .exec();
  const counts = new Map<string, { workspaceId: Types.ObjectId; n: number }>();
  for (const delta of linkCounterDeltas(links.map((link) => ({ from: null, to: link })))) {
    const count = counts.get(delta.id) ?? counts.set(delta.id, { workspaceId: delta.workspaceId, n: 0 }).get(delta.id)!;
    count.n += delta.by;
  }
  if (options.missingOnly) {
    return insertMissing(Counter, [...counts].map(([_id, { workspaceId, n }]) => ({ _id, workspaceId, n })));
  }
  const existing = await Counter.find({}, { workspaceId: 1 }).lean<Pick<CounterDoc, '_id' | 'workspaceId'>[]>().exec();
  for (const counter of existing) {
    if (LINK_COUNTER.test(counter._id) && !counts.has(counter._id)) counts.set(counter._id, { workspaceId: counter.workspaceId, n: 0 });
  }
  await bulkWriteInChunks(
    Counter,
    [...counts].map(([_id, { workspaceId, n }]) => ({ updateOne: { filter: { _id }, update: { $set: { n, workspaceId } }, upsert: true } })),
  );
  return counts.size;
}
