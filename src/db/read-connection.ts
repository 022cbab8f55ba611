import { AsyncLocalStorage } from 'node:async_hooks';
import type mongoose from 'mongoose';
import type { Aggregate, Model, Query, Schema } from 'mongoose';

/** The connection slow reads go to, when the database has one apart from the main connection. */
let reader: mongoose.Connection | null = null;

/** The signal of the request whose reads are running (none for the CLI and jobs). */
const requestSignal = new AsyncLocalStorage<AbortSignal>();

/**
 * Sends the reads of readerOf to `connection` from now on (null: back to each model's own).
 * The Database sets it when it opens and clears it when it closes.
 */
export function setReadConnection(connection: mongoose.Connection | null): void {
  reader = connection;
}

/**
 * Runs `run` with the reads readerOf starts in it tied to `signal`: once it aborts, a read still
 * waiting for a connection is dropped instead of sent (and one in flight gives up its answer),
 * so that reads of clients that went away do not queue ahead of everyone else's.
 */
export function withReadSignal<T>(signal: AbortSignal, run: () => T): T {
  return requestSignal.run(signal, run);
}

/** The model's schema for the read connection: the same, plus the request's signal on each read. */
function readerSchema(schema: Schema): Schema {
  const copy = schema.clone();
  copy.pre(['find', 'findOne', 'countDocuments', 'distinct'], function (this: Query<unknown, unknown>) {
    const signal = requestSignal.getStore();
    if (signal) this.setOptions({ signal } as object);
  });
  copy.pre('aggregate', function (this: Aggregate<unknown>) {
    const signal = requestSignal.getStore();
    if (signal) this.option({ signal } as object);
  });
  return copy;
}

/**
 * The model to use for a slow read (a listing, a count, an aggregate). On the embedded FerretDB
 * the main connection is a single one (its updates are read-modify-write, see connection.ts), so a
 * scan there would queue every primary-key read and write behind it: such reads go to a second
 * connection with its own pool. On MongoDB there is none (the pool is concurrent): the model itself.
 * Never write through it. While the second connection is down, reads fall back to the model.
 */
export function readerOf<T>(model: Model<T>): Model<T> {
  if (!reader || reader.readyState !== 1) return model;
  return (reader.models[model.modelName] ??
    reader.model(model.modelName, readerSchema(model.schema), model.collection.collectionName)) as Model<T>;
}
