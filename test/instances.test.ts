import http from 'node:http';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyAuthenticator } from '../src/auth/authenticate.ts';
import { MongoRateLimiter } from '../src/auth/rate-limit.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { Domain } from '../src/models/domain.ts';
import { ChangeLog, lastChange } from '../src/models/change-log.ts';
import { RateLimitWindow } from '../src/models/rate-limit-window.ts';
import { commandsDuring, createTestApp, gid, gql, isFerret, listenOnSocket, makeKey, makeUser, makeWorkspace, TEST_PEPPER, testDbUri, useTestDatabase, type TestApp } from './helpers.ts';

// Several instances on one database: two apps in this process (A and B). On FerretDB one app
// holds one write connection; tests that need writes on separate connections open a second one.
const { db, started } = useTestDatabase();
let a: TestApp;
let b: TestApp;
let key: string;
let user: Awaited<ReturnType<typeof makeUser>>;
let workspaceId: string;

const INSTANCE_ENV = { KEY_CACHE_TTL_MS: '60000', KEY_REVOCATION_POLL_MS: '250' };

beforeAll(async () => {
  a = createTestApp(db(), INSTANCE_ENV);
  b = createTestApp(db(), INSTANCE_ENV);
  user = await makeUser();
  const workspace = await makeWorkspace(user);
  workspaceId = gid('Workspace', workspace._id);
  key = (await makeKey(user)).secret;
});
afterAll(async () => {
  await a.close();
  await b.close();
});

/** A second connection to the test database, as another instance would hold. */
async function otherConnection(): Promise<mongoose.Connection> {
  const name = mongoose.connection.db!.databaseName;
  const options = isFerret() ? { maxPoolSize: 1, directConnection: true, retryWrites: false } : {};
  return mongoose.createConnection(testDbUri(name), options).asPromise();
}

describe('the shared rate limit (RATE_LIMIT_STORE=mongo) is exact across connections', () => {
  it('300 concurrent hits on two connections with a limit of 100 allow 100', async () => {
    const other = await otherConnection();
    try {
      const window = other.model('RateLimitWindow', RateLimitWindow.schema);
      // One clock for both: under load the hits could otherwise straddle a window boundary.
      const start = Date.now();
      const first = new MongoRateLimiter(() => start);
      const second = new MongoRateLimiter(() => start, window);
      const hits = Array.from({ length: 150 }, () => [first.hit('key:exact', 100), second.hit('key:exact', 100)]).flat();
      const decisions = await Promise.all(hits);
      expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
      // Past the limit each instance refuses from memory: no more writes.
      expect((await first.hit('key:exact', 100)).allowed).toBe(false);
      expect((await second.hit('key:exact', 100)).remaining).toBe(0);
    } finally {
      await other.close();
    }
  });
});

const CREATE = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on LinkPayload { link { id slug } } ... on Error { message } } }';
const UPDATE = 'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename ... on LinkPayload { link { id slug } } ... on Error { message } } }';

async function createLink(app: TestApp, input: Record<string, unknown>) {
  const result = await gql(app.app, CREATE, { i: { workspaceId, url: 'https://example.org/landing', ...input } }, { key });
  expect(result.body.errors).toBeUndefined();
  return result.body.data.createLink as { __typename: string; link?: { id: string; slug: string }; message?: string };
}

/** A GET over a real socket with Host tpt.test (fetch does not let us set Host). */
function socketGet(base: string, path: string): Promise<{ status: number }> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path, headers: { host: 'tpt.test' }, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode! }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('maxClicks is exact across instances', () => {
  it('a link limited to 20 clicks answers 20 redirects out of 60 spread over two instances', async () => {
    const { link } = await createLink(a, { maxClicks: 20 });
    const socketA = await listenOnSocket(a.app);
    try {
      // Instance A over its socket (its fast path included), instance B in process.
      const visit = (i: number) => (i % 2 === 0 ? socketGet(socketA.url, `/${link!.slug}`) : b.app.fetch(new Request(`http://tpt.test/${link!.slug}`)));
      const first = await Promise.all(Array.from({ length: 30 }, (_, i) => visit(i)));
      await Promise.all([a.services.clicks.flush(), b.services.clicks.flush()]);
      const second = await Promise.all(Array.from({ length: 30 }, (_, i) => visit(i)));
      const statuses = [...first, ...second].map((r) => r.status);
      expect(statuses.filter((s) => s === 302)).toHaveLength(20);
      expect(statuses.filter((s) => s === 410)).toHaveLength(40);
      // Once the limit is reached the link is gone for bots too.
      const bot = await b.app.fetch(new Request(`http://tpt.test/${link!.slug}`, { headers: { 'user-agent': 'Googlebot/2.1 (+http://www.google.com/bot.html)' } }));
      expect(bot.status).toBe(410);
    } finally {
      await socketA.close();
    }
  });

  it('a click on a limited link costs one insert by _id; a bot one read by _id', async () => {
    const { link } = await createLink(a, { maxClicks: 5 });
    const url = `http://tpt.test/${link!.slug}`;
    await a.app.fetch(new Request(url));
    const click = await commandsDuring(started, async () => a.app.fetch(new Request(url)));
    expect(click.map((c) => c.commandName)).toEqual(['insert']);
    expect(click[0]!.command.insert).toBe('clickreservations');
    // The first click was number 1.
    expect(click[0]!.command.documents[0]._id).toMatch(/^[0-9a-f]{24}:2$/);
    const bot = await commandsDuring(started, async () => a.app.fetch(new Request(url, { headers: { 'user-agent': 'curl/8.0' } })));
    expect(bot.map((c) => [c.commandName, Object.keys(c.command.filter ?? {})])).toEqual([['find', ['_id']]]);
  });

  it('bots and HEAD requests do not use up the limit', async () => {
    const { link } = await createLink(a, { maxClicks: 2 });
    const url = `http://tpt.test/${link!.slug}`;
    for (let i = 0; i < 5; i++) {
      expect((await a.app.fetch(new Request(url, { headers: { 'user-agent': 'curl/8.0' } }))).status).toBe(302);
      expect((await b.app.fetch(new Request(url, { method: 'HEAD' }))).status).toBe(302);
    }
    expect((await a.app.fetch(new Request(url))).status).toBe(302);
    expect((await b.app.fetch(new Request(url))).status).toBe(302);
    expect((await a.app.fetch(new Request(url))).status).toBe(410);
  });
});

describe('a slug claimed on two instances at once is stored once', () => {
  it('60 concurrent renames of different links to one slug: one wins, every other gets CONFLICT', async () => {
    const links = [];
    for (let i = 0; i < 60; i++) links.push((await createLink(i % 2 ? a : b, {})).link!);
    const target = 'contested-slug';
    const results = await Promise.all(links.map((link, i) => gql((i % 2 ? a : b).app, UPDATE, { i: { id: link.id, slug: target } }, { key })));
    const kinds = results.map((r) => r.body.errors?.[0]?.extensions?.code ?? r.body.data.updateLink.__typename);
    expect(kinds.filter((k) => k === 'LinkPayload')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'ConflictError')).toHaveLength(59);
    expect((await a.app.fetch(new Request(`http://tpt.test/${target}`))).status).toBe(302);
  });

  it('60 concurrent creations of one slug: one link, 59 CONFLICT', async () => {
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => gql((i % 2 ? a : b).app, CREATE, { i: { workspaceId, url: 'https://example.org/c', slug: 'created-once' } }, { key })),
    );
    const kinds = results.map((r) => r.body.errors?.[0]?.extensions?.code ?? r.body.data.createLink.__typename);
    expect(kinds.filter((k) => k === 'LinkPayload')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'ConflictError')).toHaveLength(59);
  });
});

const VIEWER = "{ viewer { key { id } } }";
const DEACTIVATE = 'mutation($i: ApiKeyIdInput!) { deactivateApiKey(input: $i) { __typename } }';
const DELETE = 'mutation($i: ApiKeyIdInput!) { deleteApiKey(input: $i) { __typename } }';
const ROTATE = 'mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { __typename } }';

describe('a key changed on one instance is refused by every instance within a second', () => {
  it('reading the change log costs one read by _id per interval when nothing changed', async () => {
    expect((await gql(b.app, VIEWER, {}, { key })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const commands = await commandsDuring(started, () => gql(b.app, VIEWER, {}, { key }));
    const reads = commands.filter((c) => c.command.find === 'changes');
    expect(reads).toHaveLength(1);
    expect(Object.keys(reads[0]!.command.filter)).toEqual(['_id']);
    // Within the interval: none.
    const again = await commandsDuring(started, () => gql(b.app, VIEWER, {}, { key }));
    expect(again.filter((c) => c.command.find === 'changes')).toHaveLength(0);
  });

  it.each([
    ['deactivated', DEACTIVATE],
    ['deleted', DELETE],
    ['rotated out', ROTATE],
  ])('%s on A: refused by B within 1 s although B cached it for 60 s', async (_what, mutation) => {
    const victim = await makeKey(user);
    expect((await gql(b.app, VIEWER, {}, { key: victim.secret })).status).toBe(200);
    expect((await gql(a.app, VIEWER, {}, { key: victim.secret })).status).toBe(200);
    const changed = await gql(a.app, mutation, { i: { id: victim.globalId } }, { key });
    expect(changed.body.errors).toBeUndefined();
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const refused = await gql(b.app, VIEWER, {}, { key: victim.secret });
    expect(refused.status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('a change whose writer failed before its insert (a gap in the log) does not stop the later ones', async () => {
    const victim = await makeKey(user);
    const authenticator = new KeyAuthenticator({ pepper: TEST_PEPPER, cacheTtlMs: 60_000, maxEntries: 100, changePollMs: 1 });
    expect((await authenticator.authenticate(`Bearer ${victim.secret}`, null)).kind).toBe('key');
    // Number last+1 never written; last+2 announces the victim's deactivation.
    const last = await lastChange();
    await ApiKey.updateOne({ _id: victim.id }, { $set: { status: 'DEACTIVATED', deactivatedAt: new Date() } });
    await ChangeLog.create({ _id: `change:${last + 2}`, kind: 'key', ref: victim.id, at: new Date() });
    await ChangeLog.updateOne({ _id: 'head' }, { $max: { n: last + 2 } }, { upsert: true });
    let reads = 0;
    while ((await authenticator.authenticate(`Bearer ${victim.secret}`, null)).kind === 'key' && reads < 200) {
      reads += 1;
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    expect(reads).toBeLessThan(200);
    expect((await authenticator.authenticate(`Bearer ${victim.secret}`, null)).kind).toBe('failure');
    // No gap left for the tests after this one (a and b step over it only after a few seconds).
    await ChangeLog.create({ _id: `change:${last + 1}`, kind: 'key', ref: victim.id, at: new Date() });
  });
});

describe('documents cached across requests follow a change made on another instance within a second', () => {
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const mutate = async (app: TestApp, document: string, input: Record<string, unknown>) => {
    const result = await gql(app.app, document, { i: input }, { key });
    expect(result.body.errors).toBeUndefined();
    return Object.values(result.body.data)[0] as any;
  };
  const PROJECT = 'query($id: ID!) { node(id: $id) { ... on Project { name } } }';
  const DOMAINS = 'query($a: ID!, $b: ID!) { a: domain(id: $a) { primary notFoundUrl } b: domain(id: $b) { primary } }';

  /** Polls `read` on B until it gives `expected`; the time it took (at most ~1.5 s). */
  async function followedWithin(read: () => Promise<unknown>, expected: unknown): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < 1500 && JSON.stringify(await read()) !== JSON.stringify(expected)) await wait(20);
    expect(await read()).toEqual(expected);
    return Date.now() - started;
  }

  it('a project renamed on A: B, which cached it for 60 s, answers the new name within 1 s; A at once', async () => {
    const { project } = await mutate(a, 'mutation($i: CreateProjectInput!) { createProject(input: $i) { ... on ProjectPayload { project { id } } } }', { workspaceId, name: 'before' });
    const nameOn = async (app: TestApp) => (await gql(app.app, PROJECT, { id: project.id }, { key })).body.data.node?.name;
    expect(await nameOn(b)).toBe('before');
    expect(await nameOn(a)).toBe('before');
    // Cached: B reads no project any more.
    const cached = await commandsDuring(started, () => nameOn(b));
    expect(cached.filter((c) => c.command.find === 'projects')).toEqual([]);
    await mutate(a, 'mutation($i: UpdateProjectInput!) { updateProject(input: $i) { __typename } }', { id: project.id, name: 'after' });
    expect(await nameOn(a)).toBe('after');
    expect(await followedWithin(() => nameOn(b), 'after')).toBeLessThan(1000);
  });

  it('a domain made primary on A: B drops every cached domain of the workspace (the former primary too) within 1 s', async () => {
    const add = (hostname: string) =>
      mutate(a, 'mutation($i: AddDomainInput!) { addDomain(input: $i) { ... on DomainPayload { domain { id } } } }', { workspaceId, hostname });
    const first = (await add('one.cached.example')).domain;
    const second = (await add('two.cached.example')).domain;
    await Domain.updateMany({ hostname: { $in: ['one.cached.example', 'two.cached.example'] } }, { $set: { verified: true } });
    await mutate(a, 'mutation($i: UpdateDomainInput!) { updateDomain(input: $i) { __typename } }', { id: first.id, primary: true });
    const onB = async () => (await gql(b.app, DOMAINS, { a: first.id, b: second.id }, { key })).body.data;
    expect(await onB()).toEqual({ a: { primary: true, notFoundUrl: null }, b: { primary: false } });
    await mutate(a, 'mutation($i: UpdateDomainInput!) { updateDomain(input: $i) { __typename } }', { id: second.id, primary: true });
    expect(await followedWithin(onB, { a: { primary: false, notFoundUrl: null }, b: { primary: true } })).toBeLessThan(1000);
    await mutate(a, 'mutation($i: UpdateDomainInput!) { updateDomain(input: $i) { __typename } }', { id: first.id, notFoundUrl: 'https://example.org/404' });
    expect(await followedWithin(onB, { a: { primary: false, notFoundUrl: 'https://example.org/404' }, b: { primary: true } })).toBeLessThan(1000);
  });

  it('a mutation decides on the database, not on what queries cached: a domain verified behind the cache can be made primary', async () => {
    const { domain } = await mutate(a, 'mutation($i: AddDomainInput!) { addDomain(input: $i) { ... on DomainPayload { domain { id } } } }', { workspaceId, hostname: 'late.cached.example' });
    const verified = async () => (await gql(a.app, 'query($id: ID!) { domain(id: $id) { verified } }', { id: domain.id }, { key })).body.data.domain.verified;
    expect(await verified()).toBe(false); // cached unverified on A
    // Verified by something that announces nothing (another process writing the database directly).
    await Domain.updateOne({ hostname: 'late.cached.example' }, { $set: { verified: true } });
    const made = await gql(a.app, 'mutation($i: UpdateDomainInput!) { updateDomain(input: $i) { __typename ... on DomainPayload { domain { primary verified } } } }', { i: { id: domain.id, primary: true } }, { key });
    expect(made.body.data.updateDomain).toEqual({ __typename: 'DomainPayload', domain: { primary: true, verified: true } });
  });
});
