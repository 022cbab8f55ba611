import mongoose from 'mongoose';
import type { Logger } from 'pino';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { ApiKeySecret, type ApiKeySecretDoc } from '../models/api-key-secret.ts';
import { chunked } from './bulk.ts';

/** Where finished migrations are recorded, one document per migration (`_id` = its name). */
const MIGRATIONS = 'migrations';
const KEY_SECRETS = 'api-key-secrets';
const INSERT_CHUNK = 500;

function isDuplicateKey(error: unknown): boolean {
  const e = error as { code?: number; writeErrors?: { code?: number }[] };
  if (e.code === 11000) return !e.writeErrors || e.writeErrors.every((w) => w.code === 11000);
  return Array.isArray(e.writeErrors) && e.writeErrors.length > 0 && e.writeErrors.every((w) => w.code === 11000);
}

/**
 * Gives every ApiKey written before secret documents existed its ApiKeySecret documents (from
 * secretHash and previousSecretHash). Idempotent: documents are inserted by `_id` and one that
 * is already there (written by the API or an earlier, interrupted run) is left alone, so a run
 * cut short is simply run again. Once complete it is recorded, and later starts cost one
 * primary-key read. Returns how many documents it created.
 */
export async function migrateKeySecrets(logger: Logger, options: { force?: boolean } = {}): Promise<number> {
  const done = mongoose.connection.collection<{ _id: string; at: Date }>(MIGRATIONS);
  if (!options.force && (await done.findOne({ _id: KEY_SECRETS }))) return 0;

  // Two scans, not one read per key: on FerretDB any filter but { _id } scans the collection.
  const existing = new Set((await ApiKeySecret.find({}, { _id: 1 }).lean<Pick<ApiKeySecretDoc, '_id'>[]>().exec()).map((s) => s._id));
  const keys = await ApiKey.find({}, { secretHash: 1, previousSecretHash: 1 })
    .lean<Pick<ApiKeyDoc, '_id' | 'secretHash' | 'previousSecretHash'>[]>()
    .exec();
  const missing: Omit<ApiKeySecretDoc, 'createdAt'>[] = [];
  for (const key of keys) {
    if (!existing.has(key.secretHash)) missing.push({ _id: key.secretHash, keyId: key._id, kind: 'current' });
    const previous = key.previousSecretHash;
    if (previous && !existing.has(previous)) missing.push({ _id: previous, keyId: key._id, kind: 'previous' });
  }

  let created = 0;
  for (const chunk of chunked(missing, INSERT_CHUNK)) {
    try {
      created += (await ApiKeySecret.insertMany(chunk, { ordered: false, rawResult: true })).insertedCount;
    } catch (error) {
      // Another process (a server and the CLI starting together) wrote some of them first.
      if (!isDuplicateKey(error)) throw error;
      created += (error as { insertedDocs?: unknown[] }).insertedDocs?.length ?? 0;
    }
  }
  await done.updateOne({ _id: KEY_SECRETS }, { $set: { at: new Date() } }, { upsert: true });
  logger.info({ keys: keys.length, secretDocuments: created }, 'API keys migrated to secret documents');
  return created;
}

/** Everything stored data needs before this version serves it: run at start and by every CLI command. */
export async function runMigrations(logger: Logger): Promise<void> {
  await migrateKeySecrets(logger);
}
