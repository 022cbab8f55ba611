import http from 'node:http';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, TEST_PEPPER, testDbUri, useTestDatabase, type TestApp } from './helpers.ts';
import { httpOk, killSpawned, runCli, tempDir, waitFor, type Spawned } from './process.ts';

// Two instances on one database, as deployed: this process's app (A) and a real server process
// (B) with MONGODB_URI at the same database, so each writes on its own connection.
const { db } = useTestDatabase();
let a: TestApp;
let server: Spawned;
let port: number;
let key: string;
let limitedKey: string;
let workspaceId: string;

const SHARED = { RATE_LIMIT_STORE: 'mongo' };

beforeAll(async () => {
  a = createTestApp(db(), SHARED);
  const user = await makeUser();
  workspaceId = gid('Workspace', (await makeWorkspace(user))._id);
  key = (await makeKey(user)).secret;
  limitedKey = (await makeKey(user, 'FULL', { rateLimit: 100 })).secret;
  port = await freePort();
  server = runCli(['serve'], {
    ...SHARED,
    DATA_DIR: tempDir(),
    PORT: String(port),
    MONGODB_URI: testDbUri(mongoose.connection.db!.databaseName),
    API_KEY_PEPPER: TEST_PEPPER,
    SHORT_DOMAIN: 'tpt.test',
    LOG_LEVEL: 'warn',
  });
  await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), 30_000, `/healthz (${server.output()})`);
  // Keys B has never seen are looked up one burst at a time (the failed-authentication throttle
  // counts lookups in flight): warm its cache first.
  expect((await call('B', '{ viewer { key { id } } }')).status).toBe(200);
}, 60_000);
afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
  killSpawned();
  await a.close();
});

/** The same GraphQL call on instance A (in process) or B (over HTTP). */
async function call(on: 'A' | 'B', query: string, variables: Record<string, unknown> = {}, secret = key): Promise<{ status: number; body: any }> {
  if (on === 'A') return gql(a.app, query, variables, { key: secret });
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: await response.json() };
}

const CREATE = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on LinkPayload { link { id slug } } } }';
const UPDATE = 'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename ... on Error { message } } }';

describe('two processes on one database', () => {
  it('concurrent renames of 96 links to one slug: one wins, the rest get CONFLICT, never INTERNAL_SERVER_ERROR', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 96; i++) ids.push((await call('A', CREATE, { i: { workspaceId, url: 'https://example.org/r' } })).body.data.createLink.link.id);
    const results = await Promise.all(ids.map((id, i) => call(i % 2 ? 'A' : 'B', UPDATE, { i: { id, slug: 'both-want-it' } })));
    const kinds = results.map((r) => r.body.errors?.[0]?.extensions?.code ?? r.body.data.updateLink.__typename);
    expect(kinds.filter((k) => k === 'LinkPayload')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'ConflictError')).toHaveLength(95);
  });

  it('a link limited to 100 clicks answers 100 redirects out of 300 spread over both', async () => {
    const link = (await call('A', CREATE, { i: { workspaceId, url: 'https://example.org/m', maxClicks: 100 } })).body.data.createLink.link;
    const onB = () =>
      new Promise<number>((resolve, reject) => {
        const request = http.request({ host: '127.0.0.1', port, path: `/${link.slug}`, headers: { host: 'tpt.test' } }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode!));
        });
        request.on('error', reject);
        request.end();
      });
    const onA = async () => (await a.app.fetch(new Request(`http://tpt.test/${link.slug}`))).status;
    const statuses = await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 ? onA() : onB())));
    expect(statuses.filter((s) => s === 302)).toHaveLength(100);
    expect(statuses.filter((s) => s === 410)).toHaveLength(200);
  });

  it('300 concurrent calls: the per-key rate limit of 100 a minute holds across both: at most 5 % over', async () => {
    // All in one fixed window: not across the turn of a minute.
    if (Date.now() % 60_000 > 55_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - (Date.now() % 60_000) + 100));
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => call(i % 2 ? 'A' : 'B', '{ viewer { key { id } } }', {}, limitedKey)));
    const allowed = results.filter((r) => r.status === 200).length;
    expect(results.filter((r) => r.status === 429)).toHaveLength(300 - allowed);
    expect(allowed).toBeGreaterThanOrEqual(95);
    expect(allowed).toBeLessThanOrEqual(105);
  });
});
