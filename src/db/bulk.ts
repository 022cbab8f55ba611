import type { Model } from 'mongoose';

/**
 * FerretDB 1.24.2 stops answering an update command of 100 or more statements (80 work, 100
 * hang; seen with the Node driver 7), so bulk writes go out in chunks well below that. On
 * MongoDB the chunks cost a few more round trips per flush and nothing else.
 */
export const BULK_CHUNK_SIZE = 50;

export function* chunked<T>(items: readonly T[], size = BULK_CHUNK_SIZE): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}

/** Unordered bulk write, BULK_CHUNK_SIZE operations at a time. */
export async function bulkWriteInChunks<T extends object>(
  model: Model<T>,
  ops: Parameters<Model<T>['bulkWrite']>[0],
): Promise<void> {
  for (const chunk of chunked(ops)) await model.bulkWrite(chunk, { ordered: false });
}
