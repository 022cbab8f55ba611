import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { MongoClient, ObjectId, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferretBinaryPath } from '../src/db/embedded.ts';
import { ROOT } from './process.ts';
import { testDbUri } from './helpers.ts';

// The embedded FerretDB is built with scripts/ferretdb/sqlite-id-index.patch: unpatched, its SQLite
// backend queried `_id` with an expression the unique _id index does not match, so every `{ _id }`
// read, update and delete scanned the whole table. FerretDB's explain returns SQLite's query plan.
const onMongo = Boolean(process.env.MONGODB_URI);
const title = onMongo
  ? 'embedded FerretDB build (skipped: MONGODB_URI is set, these check the embedded FerretDB binary)'
  : 'embedded FerretDB build';

describe.skipIf(onMongo)(title, () => {
  let client: MongoClient;
  let db: Db;
  const objectIds = Array.from({ length: 20 }, () => new ObjectId());

  beforeAll(async () => {
    client = new MongoClient(testDbUri(`t_${randomBytes(6).toString('hex')}`));
    db = client.db();
    await db.collection('things').insertMany(objectIds.map((_id, n) => ({ _id, n })));
    await db.collection('named').insertMany([{ _id: 'a' as never, n: 1 }, { _id: 'b' as never, n: 2 }]);
  });
  afterAll(async () => {
    await db?.dropDatabase().catch(() => {});
    await client?.close();
  });

  async function plan(collection: string, filter: object): Promise<{ filterPushdown: boolean; steps: string[] }> {
    const res = await db.command({ explain: { find: collection, filter } });
    return { filterPushdown: res.filterPushdown, steps: res.queryPlanner.Plan };
  }

  it('looks up an ObjectId _id through the unique _id index, not a table scan', async () => {
    const { filterPushdown, steps } = await plan('things', { _id: objectIds[7] });
    expect(filterPushdown).toBe(true);
    expect(steps.join('\n')).toMatch(/detail=SEARCH \S+ USING INDEX \S+__id_/);
    expect(steps.join('\n')).not.toMatch(/\bSCAN\b/);
  });

  it('looks up a string _id through the index too', async () => {
    const { steps } = await plan('named', { _id: 'b' });
    expect(steps.join('\n')).toMatch(/detail=SEARCH \S+ USING INDEX/);
    expect(steps.join('\n')).not.toMatch(/\bSCAN\b/);
  });

  it('still finds, updates, upserts and deletes the right document by _id', async () => {
    const things = db.collection<{ _id: ObjectId; n: number }>('things');
    expect(await things.findOne({ _id: objectIds[3] })).toEqual({ _id: objectIds[3], n: 3 });
    expect((await things.updateOne({ _id: objectIds[3] }, { $inc: { n: 10 } })).modifiedCount).toBe(1);
    expect(await things.findOne({ _id: objectIds[3] })).toEqual({ _id: objectIds[3], n: 13 });
    const fresh = new ObjectId();
    await things.updateOne({ _id: fresh }, { $inc: { n: 1 } }, { upsert: true });
    await things.updateOne({ _id: fresh }, { $inc: { n: 1 } }, { upsert: true });
    expect(await things.findOne({ _id: fresh })).toEqual({ _id: fresh, n: 2 });
    expect((await things.deleteOne({ _id: objectIds[4] })).deletedCount).toBe(1);
    expect(await things.countDocuments()).toBe(objectIds.length);
  });

  it('the build script and the server agree on the cached binary (one name, with the patch level)', () => {
    const printed = execFileSync('bash', [path.join(ROOT, 'scripts/build-ferretdb.sh')], { encoding: 'utf8' }).trim();
    expect(printed).toBe(ferretBinaryPath());
    expect(path.basename(printed)).toMatch(/^ferretdb-v\d+\.\d+\.\d+-taapit\d+$/);
  });
});
