import { createHmac } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { BSON, type Db, type Document } from 'mongodb';
import { ensureIndexes } from '../models/index.ts';

/**
 * Backup files: a header line, then one line per document `{"c": collection, "d": document}`, in
 * canonical Extended JSON so that ObjectIds, Dates, Longs, Int32s and Doubles come back as they
 * were. Gzipped when the file name ends in `.gz`.
 */
export const BACKUP_FORMAT = 'taapit-backup';
export const BACKUP_VERSION = 1;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  createdAt: string;
  /** True when nothing else could write meanwhile (the CLI started the embedded database itself). */
  quiescent: boolean;
  /** A fingerprint of the pepper the keys were made with (never the pepper): restore checks it. */
  pepperCheck: string | null;
  collections: string[];
  counts: Record<string, number>;
}

export class BackupError extends Error {
  override name = 'BackupError';
}

/** Documents per read while dumping and per insertMany while restoring (FerretDB takes 1000-document inserts). */
const PAGE = 1000;
/** A restore batch is also cut at this many bytes of JSON, well under the 16 MB message limit. */
const BATCH_BYTES = 4 * 1024 * 1024;
const CANONICAL = { relaxed: false } as const;

/** HMAC of a fixed text under the pepper, shortened: tells peppers apart without revealing one. */
export function pepperCheck(pepper: string | null): string | null {
  return pepper ? createHmac('sha256', pepper).update('taapit-backup pepper check').digest('hex').slice(0, 16) : null;
}

async function dataCollections(db: Db): Promise<string[]> {
  const listed = await db.listCollections({}, { nameOnly: true }).toArray();
  return listed
    .filter((c) => c.type !== 'view' && !c.name.startsWith('system.'))
    .map((c) => c.name)
    .sort();
}

/** The collections that hold at least one document. */
export async function collectionsWithData(db: Db): Promise<string[]> {
  const names: string[] = [];
  for (const name of await dataCollections(db)) {
    if (await db.collection(name).findOne({}, { projection: { _id: 1 } })) names.push(name);
  }
  return names;
}

/**
 * Dumps every collection of `db` to `file`, one after another, each with one cursor in the order
 * the database returns it (paging by `_id` ranges was measured 5x slower at 10k links: FerretDB
 * scans and sorts the whole collection for each page). While other processes write this is not a
 * snapshot across documents or collections (FerretDB has no transactions to give one):
 * `quiescent` records whether anything else could write. The body goes to a temporary file first
 * because the header, first in the file, carries the counts; the finished file is renamed into
 * place, so a dump cut short leaves no `file` behind.
 */
export async function writeBackup(db: Db, file: string, meta: { quiescent: boolean; pepper: string | null }): Promise<BackupHeader> {
  const body = `${file}.${process.pid}.body`;
  const partial = `${file}.${process.pid}.part`;
  try {
    const counts: Record<string, number> = {};
    const collections = await dataCollections(db);
    const out = await fs.open(body, 'w', 0o600).catch((error: NodeJS.ErrnoException) => {
      throw new BackupError(`cannot write ${file} (${error.code ?? error.message}): choose a writable directory.`);
    });
    try {
      for (const name of collections) {
        const collection = db.collection(name);
        let count = 0;
        let lines: string[] = [];
        for await (const doc of collection.find({}, { batchSize: PAGE, promoteValues: false, promoteBuffers: false })) {
          lines.push(`{"c":${JSON.stringify(name)},"d":${BSON.EJSON.stringify(doc, CANONICAL)}}\n`);
          count += 1;
          if (lines.length === PAGE) {
            await out.write(lines.join(''));
            lines = [];
          }
        }
        await out.write(lines.join(''));
        counts[name] = count;
      }
    } finally {
      await out.close();
    }
    const header: BackupHeader = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      createdAt: new Date().toISOString(),
      quiescent: meta.quiescent,
      pepperCheck: pepperCheck(meta.pepper),
      collections,
      counts,
    };
    const parts = async function* () {
      yield `${JSON.stringify(header)}\n`;
      yield* createReadStream(body);
    };
    const target = createWriteStream(partial, { mode: 0o600 });
    if (file.endsWith('.gz')) await pipeline(Readable.from(parts()), zlib.createGzip(), target);
    else await pipeline(Readable.from(parts()), target);
    await fs.rename(partial, file);
    return header;
  } finally {
    await fs.rm(body, { force: true });
    await fs.rm(partial, { force: true });
  }
}

interface Line {
  number: number;
  collection: string;
  doc: Document;
  bytes: number;
}

/** The lines of a backup file (gunzipped when it starts with gzip's magic bytes), header checked. */
async function* readLines(file: string): AsyncGenerator<BackupHeader | Line> {
  let handle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    throw new BackupError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  const magic = Buffer.alloc(2);
  await handle.read(magic, 0, 2, 0);
  await handle.close();
  const raw = createReadStream(file);
  const input = magic[0] === 0x1f && magic[1] === 0x8b ? raw.pipe(zlib.createGunzip()) : raw;
  raw.on('error', (error) => input.destroy(error));
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let number = 0;
  try {
    for await (const text of lines) {
      number += 1;
      if (number === 1) {
        yield parseHeader(file, text);
        continue;
      }
      if (text === '') continue;
      let parsed: { c?: unknown; d?: unknown };
      try {
        parsed = BSON.EJSON.parse(text, CANONICAL) as typeof parsed;
      } catch {
        throw new BackupError(`${file} line ${number} is not valid Extended JSON: the file is corrupt or cut short; use an intact backup.`);
      }
      if (typeof parsed.c !== 'string' || typeof parsed.d !== 'object' || parsed.d === null || Array.isArray(parsed.d)) {
        throw new BackupError(`${file} line ${number} is not a {"c": collection, "d": document} line: the file is corrupt; use an intact backup.`);
      }
      yield { number, collection: parsed.c, doc: parsed.d as Document, bytes: text.length };
    }
  } catch (error) {
    if (error instanceof BackupError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR') {
      throw new BackupError(`${file} is a damaged or cut-short gzip file (after line ${number}): use an intact backup.`);
    }
    throw new BackupError(`cannot read ${file} after line ${number} (${code ?? (error as Error).message})`);
  }
  if (number === 0) throw new BackupError(`${file} is empty: it is not a taapit-api backup.`);
}

function parseHeader(file: string, text: string): BackupHeader {
  let header: Partial<BackupHeader>;
  try {
    header = JSON.parse(text) as Partial<BackupHeader>;
  } catch {
    header = {};
  }
  if (header.format !== BACKUP_FORMAT) throw new BackupError(`${file} line 1 is not a taapit-api backup header: this is not a backup made by \`taapit-api backup\`.`);
  if (header.version !== BACKUP_VERSION) {
    throw new BackupError(`${file} is a version ${header.version} backup; this taapit-api reads version ${BACKUP_VERSION}: restore it with the version that made it.`);
  }
  if (!Array.isArray(header.collections) || typeof header.counts !== 'object' || header.counts === null) {
    throw new BackupError(`${file} line 1 lacks collections or counts: the header is damaged.`);
  }
  return header as BackupHeader;
}

/** Reads the whole file once, so that a damaged one is refused before anything is changed. */
export async function checkBackup(file: string): Promise<BackupHeader> {
  let header: BackupHeader | undefined;
  const seen: Record<string, number> = {};
  let last = 1;
  for await (const item of readLines(file)) {
    if ('format' in item) {
      header = item;
      continue;
    }
    if (!header!.collections.includes(item.collection)) {
      throw new BackupError(`${file} line ${item.number} names collection "${item.collection}", which the header does not list: the file is corrupt.`);
    }
    seen[item.collection] = (seen[item.collection] ?? 0) + 1;
    last = item.number;
  }
  for (const name of header!.collections) {
    if ((seen[name] ?? 0) !== header!.counts[name]) {
      throw new BackupError(
        `${file} ends after line ${last} with ${seen[name] ?? 0} document(s) of "${name}" where the header announces ${header!.counts[name]}: the file is cut short or damaged; use an intact backup.`,
      );
    }
  }
  return header!;
}

/**
 * Restores `file` into `db`: checks the whole file first, refuses a database holding data unless
 * `force` (which first deletes every document of it), creates the collections and indexes, then
 * inserts in batches and checks each collection's count against the header.
 */
export async function restoreBackup(db: Db, file: string, options: { force: boolean }): Promise<BackupHeader> {
  const header = await checkBackup(file);
  const holding = await collectionsWithData(db);
  if (holding.length > 0) {
    if (!options.force) {
      throw new BackupError(
        `the database is not empty (${holding.join(', ')} hold data): restore into an empty database (a new DATA_DIR, or an empty MONGODB_URI database), or pass --force to delete everything in it first.`,
      );
    }
    for (const name of holding) await db.collection(name).deleteMany({});
  }
  await ensureIndexes();
  let batch: Line[] = [];
  let bytes = 0;
  const flush = async () => {
    const byCollection = new Map<string, Line[]>();
    for (const line of batch) (byCollection.get(line.collection) ?? byCollection.set(line.collection, []).get(line.collection)!).push(line);
    for (const [name, lines] of byCollection) {
      try {
        await db.collection(name).insertMany(
          lines.map((l) => l.doc),
          { ordered: false },
        );
      } catch (error) {
        throw new BackupError(`inserting "${name}" lines ${lines[0]!.number}–${lines.at(-1)!.number} failed: ${(error as Error).message}`);
      }
    }
    batch = [];
    bytes = 0;
  };
  for await (const item of readLines(file)) {
    if ('format' in item) continue;
    batch.push(item);
    bytes += item.bytes;
    if (batch.length >= PAGE || bytes >= BATCH_BYTES) await flush();
  }
  await flush();
  for (const name of header.collections) {
    const count = await db.collection(name).countDocuments({});
    if (count !== header.counts[name]) {
      throw new BackupError(`after restoring, "${name}" holds ${count} document(s), the backup ${header.counts[name]}: was something else writing to the database? Restore again with --force while nothing else runs.`);
    }
  }
  return header;
}
