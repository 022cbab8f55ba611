import type { Model, QueryFilter, Types } from 'mongoose';

/** A unique-index clash found before writing, reported with MongoDB's code so isDuplicateKeyError sees it. */
class DuplicateKeyError extends Error {
  readonly code = 11000;
  constructor() {
    super('E11000 duplicate key');
    this.name = 'DuplicateKeyError';
  }
}

/**
 * Sets fields of one document and returns it as it is after the change (null when it is gone).
 * `unique` is the unique key the change gives the document (or null when it keeps its own):
 * FerretDB 1.24 reports a unique-index clash on update as a generic InternalError (inserts do
 * get 11000), so the clash is looked for first and thrown as a duplicate key error. On MongoDB
 * the index itself still catches a race between the check and the write, with the same code.
 */
export async function updateByIdUnique<T extends { _id: Types.ObjectId }>(
  model: Model<T>,
  id: Types.ObjectId,
  set: Partial<T>,
  unique: QueryFilter<T> | null,
): Promise<T | null> {
  if (unique && (await model.exists({ ...unique, _id: { $ne: id } } as QueryFilter<T>))) throw new DuplicateKeyError();
  return model.findOneAndUpdate({ _id: id } as QueryFilter<T>, { $set: set }, { new: true }).lean<T>().exec();
}
