import net from 'node:net';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { connectMongoose, databaseFromConnection } from '../src/db/connection.ts';
import { ensureIndexes } from '../src/models/index.ts';
import { createTestApp, gid, gql, isFerret, makeKey, makeUser, makeWorkspace, type TestApp } from './helpers.ts';
import { waitFor } from './process.ts';

/**
 * A TCP relay between the server and the database under test (FerretDB or MONGODB_URI): `down()`
 * cuts every connection and refuses new ones, as a crashed or unreachable database does.
 */
async function startRelay(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    async down() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
    async up() {
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
  };
}

/** The single host of the database under test, or null when the relay cannot stand in for it (SRV, replica set hosts). */
function singleHost(): { host: string; port: number; url: URL } | null {
  const { uri } = inject('mongoBase');
  if (!uri.startsWith('mongodb://') || /^mongodb:\/\/[^/]*,/.test(uri)) return null;
  const url = new URL(uri);
  return { host: url.hostname, port: Number(url.port || 27017), url };
}

const QUERY = '{ viewer { user { email } } workspaces(first: 5) { edges { node { name } } } }';
const CREATE_WORKSPACE = 'mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { __typename } }';
const CREATE_LINK = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { slug } } } }';

async function get(t: TestApp, path: string): Promise<Response> {
  return await t.app.fetch(new Request(`http://tpt.test${path}`), { clientIp: '127.0.0.1' });
}

describe.runIf(singleHost() !== null)('database outage while serving', () => {
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let t: TestApp;
  let key: string;
  let unusedKey: string;
  let cachedSlug: string;
  let uncachedSlug: string;

  beforeAll(async () => {
    const target = singleHost()!;
    relay = await startRelay(target);
    const url = new URL(target.url);
    url.host = `127.0.0.1:${relay.port}`;
    url.pathname = `/outage_${Date.now().toString(36)}`;
    url.searchParams.set('directConnection', 'true');
    if (isFerret()) url.searchParams.set('retryWrites', 'false');
    const connection = await connectMongoose(url.toString(), { ferret: isFerret(), timeoutMs: 5000 });
    await ensureIndexes();
    t = createTestApp(databaseFromConnection(isFerret() ? 'ferretdb' : 'mongodb', connection), { KEY_CACHE_TTL_MS: '600000' });
    const user = await makeUser();
    const workspace = await makeWorkspace(user, 'before');
    key = (await makeKey(user)).secret;
    unusedKey = (await makeKey(user)).secret;
    const create = async (slug: string) => {
      const result = await gql(t.app, CREATE_LINK, { i: { workspaceId: gid('Workspace', workspace._id), url: `https://${slug}.example/`, slug } }, { key });
      return result.body.data.createLink.link.slug as string;
    };
    cachedSlug = await create('hot');
    uncachedSlug = await create('cold');
    // The key, the user and the hot link are now in this instance's caches.
    expect((await gql(t.app, QUERY, {}, { key })).status).toBe(200);
    expect((await get(t, `/${cachedSlug}`)).status).toBe(302);
  });
  afterAll(async () => {
    await t?.close().catch(() => {});
    await mongoose.connection.db?.dropDatabase().catch(() => {});
    await mongoose.disconnect();
  });

  it('gives up on an unreachable database within 1 s, so requests answer 503 quickly', () => {
    expect(mongoose.connection.getClient().options.serverSelectionTimeoutMS).toBeLessThan(1000);
  });

  it('answers 503 SERVICE_UNAVAILABLE with Retry-After, keeps what caches answer, writes nothing, and recovers', async () => {
    const record = vi.spyOn(t.services.clicks, 'record');
    await relay.down();

    expect((await get(t, '/readyz')).status).toBe(503);
    expect((await get(t, '/healthz')).status).toBe(200);

    // The key, its user and its permissions come from the key cache: viewer alone still answers.
    const viewer = await gql(t.app, '{ viewer { user { email } } }', {}, { key });
    expect(viewer.status).toBe(200);
    expect(viewer.body.data.viewer.user.email).toContain('@example.com');

    // A query that needs the database: 503, every error says so, the cached part is still there.
    const down = await gql(t.app, QUERY, {}, { key });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect(down.body.data?.viewer.user.email).toContain('@example.com');
    expect(down.body.errors?.length).toBeGreaterThan(0);
    for (const error of down.body.errors!) {
      expect(error.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
      expect(error.message).toMatch(/database is unreachable.*retry/i);
    }
    expect(JSON.stringify(down.body)).not.toMatch(/Mongo|ECONNREFUSED|INTERNAL_SERVER_ERROR|\bat \S+:\d+/);

    // A mutation: the same 503, and (checked after recovery) nothing written.
    const mutation = await gql(t.app, CREATE_WORKSPACE, { i: { name: 'during-outage' } }, { key });
    expect(mutation.status).toBe(503);
    expect(mutation.headers.get('retry-after')).toBe('5');
    expect(mutation.body.errors?.map((e) => e.extensions?.code)).toEqual(['SERVICE_UNAVAILABLE']);

    // A key this instance has not seen yet cannot be checked: 503 too, not 401 and not 500.
    const unknown = await gql(t.app, '{ viewer { key { name } } }', {}, { key: unusedKey });
    expect(unknown.status).toBe(503);
    expect(unknown.headers.get('retry-after')).toBe('5');
    expect(unknown.body.errors?.map((e) => e.extensions?.code)).toEqual(['SERVICE_UNAVAILABLE']);
    // The same through GET, where the key is checked inside yoga rather than before the body.
    const viaGet = await t.app.fetch(
      new Request(`http://tpt.test/graphql?query=${encodeURIComponent('{ viewer { key { name } } }')}`, {
        headers: { authorization: `Bearer ${unusedKey}`, accept: 'application/json' },
      }),
      { clientIp: '127.0.0.1' },
    );
    expect(viaGet.status).toBe(503);
    expect(viaGet.headers.get('retry-after')).toBe('5');
    expect(((await viaGet.json()) as { errors: { extensions: { code: string } }[] }).errors.map((e) => e.extensions.code)).toEqual(['SERVICE_UNAVAILABLE']);

    // A link that is not cached: 503 text with Retry-After; a cached one keeps redirecting, its click recorded.
    const cold = await get(t, `/${uncachedSlug}`);
    expect(cold.status).toBe(503);
    expect(cold.headers.get('retry-after')).toBe('5');
    expect(cold.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await cold.text()).toMatch(/retry/i);
    const hot = await get(t, `/${cachedSlug}`);
    expect(hot.status).toBe(302);
    expect(hot.headers.get('location')).toBe('https://hot.example/');
    expect(record).toHaveBeenCalledTimes(1);
    expect(t.logs.text).not.toContain(unusedKey);

    await relay.up();
    await waitFor(async () => ((await get(t, '/readyz')).status === 200 ? true : undefined), 15_000, 'readyz to recover');
    const after = await gql(t.app, QUERY, {}, { key });
    expect(after.status).toBe(200);
    expect(after.body.data.workspaces.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['before']);
    expect((await get(t, `/${uncachedSlug}`)).status).toBe(302);
    expect((await gql(t.app, '{ viewer { key { name } } }', {}, { key: unusedKey })).status).toBe(200);
  });
});
