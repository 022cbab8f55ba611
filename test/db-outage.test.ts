import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMongoose, databaseFromConnection } from '../src/db/connection.ts';
import { startEmbeddedFerret, type EmbeddedServer } from '../src/db/embedded.ts';
import { ensureIndexes } from '../src/models/index.ts';
import { createTestApp, gql, isFerret, makeKey, makeUser, type TestApp } from './helpers.ts';
import { waitFor } from './process.ts';

// Needs a database this test can stop and start: its own embedded FerretDB.
describe.runIf(isFerret())('database outage while serving', () => {
  let dataDir: string;
  let ferret: EmbeddedServer;
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'taapit-outage-'));
    ferret = await startEmbeddedFerret({ dataDir });
    const connection = await connectMongoose(ferret.uri('outage'), { ferret: true, timeoutMs: 1500 });
    await ensureIndexes();
    t = createTestApp(databaseFromConnection('ferretdb', connection), { KEY_CACHE_TTL_MS: '600000' });
    key = (await makeKey(await makeUser())).secret;
  });
  afterAll(async () => {
    await t.close().catch(() => {});
    await mongoose.disconnect();
    await ferret.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('readyz says 503, GraphQL gets a masked error with a request id, and both recover', async () => {
    // viewer alone is answered from the key cache; the workspace list needs the database.
    const query = '{ viewer { user { email } } workspaces(first: 1) { edges { node { id } } } }';
    expect((await gql(t.app, query, {}, { key })).body.data.viewer.user.email).toContain('@example.com');

    await ferret.stop();
    const ready = await t.app.fetch(new Request('http://tpt.test/readyz'));
    expect(ready.status).toBe(503);

    const down = await gql(t.app, query, {}, { key });
    const error = down.body.errors?.[0];
    expect(error?.message).toBe('Unexpected error.');
    expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(error?.extensions?.requestId).toBe(down.headers.get('x-request-id'));
    expect(JSON.stringify(down.body)).not.toMatch(/Mongo|ECONNREFUSED|\bat \S+:\d+/);
    expect(t.logs.text).toContain(error?.extensions?.requestId);

    ferret = await startEmbeddedFerret({ dataDir, port: ferret.port });
    await waitFor(
      async () => ((await t.app.fetch(new Request('http://tpt.test/readyz'))).status === 200 ? true : undefined),
      15_000,
      'readyz to recover',
    );
    expect((await gql(t.app, query, {}, { key })).body.data.viewer.user.email).toContain('@example.com');
  });
});
