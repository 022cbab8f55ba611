import type { Model } from 'mongoose';
import { chunked } from './bulk.ts';

const INSERT_CHUNK = 500;

/** True when every write error is a duplicate key (11000): the documents were already there. */
export function onlyDuplicateKeys(error: unknown): boolean {
  const e = error as { code?: number; writeErrors?: { code?: number }[] };
  if (e.code === 11000) return !e.writeErrors || e.writeErrors.every((w) => w.code === 11000);
  return Array.isArray(e.writeErrors) && e.writeErrors.length > 0 && e.writeErrors.every((w) => w.code === 11000);
}

/**
 * Inserts documents keyed by `_id`, leaving alone any that already exist (written by another
 * process or an earlier, interrupted run): safe to repeat. Returns how many it inserted.
 */
export async function insertMissing<T>(model: Model<T>, docs: readonly object[]): Promise<number> {
  let created = 0;
  for (const chunk of chunked(docs, INSERT_CHUNK)) {
    try {
      created += (await model.insertMany(chunk, { ordered: false, rawResult: true })).insertedCount;
    } catch (error) {
      if (!onlyDuplicateKeys(error)) throw error;
      created += (error as { insertedDocs?: unknown[] }).insertedDocs?.length ?? 0;
    }
  }
  return created;
}
