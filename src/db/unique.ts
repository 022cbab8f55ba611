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

/**
 * Numbered slots `<prefix>:<n>`, each taken by inserting a document with that `_id`: the one write
 * two connections cannot both win, on MongoDB and on FerretDB (which loses concurrent `$inc`s and
 * conditional updates made on different connections). Counting by claiming is therefore exact
 * across instances. This process remembers the next number to try per prefix, a hint only: a
 * number taken meanwhile elsewhere costs one more insert, never a double claim.
 */
export class SlotClaimer<T> {
  private readonly next = new Map<string, number>();

  constructor(private readonly model: Model<T>) {}

  /** The number of the slot claimed (at least `floor`), or null when every slot up to `limit` is taken. */
  async claim(prefix: string, limit: number, floor = 1, fields: object = {}): Promise<number | null> {
    for (;;) {
      // Taken before the await, so concurrent calls in this process try different numbers.
      const n = Math.max(this.next.get(prefix) ?? floor, floor);
      if (n > limit) return null;
      if (!this.next.has(prefix) && this.next.size >= 50_000) this.next.clear();
      this.next.set(prefix, n + 1);
      try {
        await this.model.insertMany([{ _id: `${prefix}:${n}`, ...fields }]);
        return n;
      } catch (error) {
        if (onlyDuplicateKeys(error)) continue;
        // Not written (or not known to be): the next claim tries n again rather than leave a gap.
        if ((this.next.get(prefix) ?? 0) > n) this.next.set(prefix, n);
        throw error;
      }
    }
  }

  /** Forgets every hint (when the prefixes they are for are over, as a rate-limit window is). */
  forgetAll(): void {
    this.next.clear();
  }
}
