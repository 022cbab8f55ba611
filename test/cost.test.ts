import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryPointsBudget, MongoPointsBudget } from '../src/auth/points.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { RateLimitWindow } from '../src/models/rate-limit-window.ts';
import { Workspace } from '../src/models/workspace.ts';
import { commandsDuring, createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, started } = useTestDatabase();

// A fixed clock 10 s into a window, so no test straddles a minute boundary.
const NOW = 1_800_000_010_000;
const clock = () => NOW;
const WINDOW_END = new Date(1_800_000_060_000).toISOString();

let t: TestApp;
beforeAll(() => {
  t = createTestApp(db(), { RATE_LIMIT_POINTS_PER_MINUTE: '10000' }, { points: new MemoryPointsBudget(clock) });
});
afterAll(() => t.close());

const VIEWER = '{ viewer { key { name } } }'; // viewer 1 + key 1 + name 1

function costOf(result: { cost?: Record<string, any> }) {
  return result.cost as {
    requestedQueryCost: number;
    actualQueryCost: number;
    throttleStatus: { maximumAvailable: number; currentlyAvailable: number; restoreRate: number };
  };
}

describe('extensions.cost', () => {
  it('is on every answer: requested up front, actual after, the budget left', async () => {
    const { secret } = await makeKey(await makeUser());
    const first = await gql(t.app, VIEWER, {}, { key: secret });
    expect(first.status).toBe(200);
    expect(costOf(first)).toEqual({
      requestedQueryCost: 3,
      actualQueryCost: 3,
      throttleStatus: { maximumAvailable: 10_000, currentlyAvailable: 9_997, restoreRate: 10_000 / 60 },
    });
    const second = await gql(t.app, VIEWER, {}, { key: secret });
    expect(costOf(second).throttleStatus.currentlyAvailable).toBe(9_994);
    // A document refused by validation runs nothing and costs nothing, and still shows the budget.
    const invalid = await gql(t.app, '{ viewer { nope } }', {}, { key: secret });
    expect(invalid.status).toBe(400);
    expect(costOf(invalid)).toMatchObject({ requestedQueryCost: 0, actualQueryCost: 0, throttleStatus: { currentlyAvailable: 9_994 } });
  });

  it('anonymous introspection gets it too (charged to its address, and cheap)', async () => {
    const result = await gql(t.app, '{ __schema { queryType { name } } }', {}, { ip: '203.0.113.9' });
    expect(result.status).toBe(200);
    expect(costOf(result)).toEqual({
      requestedQueryCost: 1,
      actualQueryCost: 1,
      throttleStatus: { maximumAvailable: 10_000, currentlyAvailable: 9_999, restoreRate: 10_000 / 60 },
    });
  });

  it('gives back the difference when a page comes back short (a refund)', async () => {
    const user = await makeUser();
    const workspace = await makeWorkspace(user);
    const { secret } = await makeKey(user);
    const query = `query($w: ID) { links(workspaceId: $w, first: 100) { edges { node { id slug } } } }`;
    const w = gid('Workspace', workspace._id);
    const none = await gql(t.app, query, { w }, { key: secret });
    expect(none.status).toBe(200);
    // links 1 + 100 × (edges 1 + node 1 + id 1 + slug 1)
    expect(costOf(none).requestedQueryCost).toBe(401);
    // Nothing returned: links 1 + edges 1 (an empty list).
    expect(costOf(none).actualQueryCost).toBe(2);
    expect(costOf(none).throttleStatus.currentlyAvailable).toBe(10_000 - 2);

    const CREATE = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }';
    for (const i of [1, 2, 3]) {
      const created = await gql(t.app, CREATE, { i: { workspaceId: w, url: `https://example.com/${i}` } }, { key: secret });
      expect(created.body.data.createLink.__typename).toBe('LinkPayload');
    }
    const spentBefore = 10_000 - costOf(await gql(t.app, VIEWER, {}, { key: secret })).throttleStatus.currentlyAvailable;
    const three = await gql(t.app, query, { w }, { key: secret });
    expect(three.body.data.links.edges).toHaveLength(3);
    // links 1 + 3 × (edges 1 + node 1 + id 1 + slug 1)
    expect(costOf(three)).toMatchObject({ requestedQueryCost: 401, actualQueryCost: 13 });
    expect(costOf(three).throttleStatus.currentlyAvailable).toBe(10_000 - spentBefore - 13);
  });

  it("the README's example: rateLimit and a short page of links", async () => {
    const user = await makeUser();
    const w = gid('Workspace', (await makeWorkspace(user))._id);
    const { secret } = await makeKey(user, 'FULL', { workspaces: [] });
    for (const i of [1, 2, 3]) await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }', { i: { workspaceId: w, url: `https://example.com/${i}` } }, { key: secret });
    const before = costOf(await gql(t.app, '{ __typename }', {}, { key: secret })).throttleStatus.currentlyAvailable;
    const result = await gql(t.app, '{ rateLimit { limit cost remaining used resetAt } links(first: 100) { edges { node { slug } } } }', {}, { key: secret });
    expect(result.body.data.rateLimit).toMatchObject({ limit: 10_000, cost: 307, remaining: before - 307 });
    expect(result.body.data.links.edges).toHaveLength(3);
    expect(costOf(result)).toMatchObject({ requestedQueryCost: 307, actualQueryCost: 16, throttleStatus: { currentlyAvailable: before - 16 } });
  });

  it("costs the same for another tenant's object as for one that does not exist", async () => {
    const owner = await makeUser();
    const foreign = await makeWorkspace(owner);
    const { secret } = await makeKey(await makeUser());
    const ghost = gid('Workspace', '0123456789abcdef01234567');
    for (const query of ['query($w: ID!) { workspace(id: $w) { id name } }', 'query($w: ID) { links(workspaceId: $w, first: 50) { totalCount edges { node { id } } } }']) {
      const onForeign = await gql(t.app, query, { w: gid('Workspace', foreign._id) }, { key: secret });
      const onGhost = await gql(t.app, query, { w: ghost }, { key: secret });
      expect(onForeign.body).toEqual(onGhost.body);
      expect(costOf(onForeign).actualQueryCost, query).toBe(costOf(onGhost).actualQueryCost);
      expect(costOf(onForeign).requestedQueryCost).toBe(costOf(onGhost).requestedQueryCost);
    }
  });

  it('Query.rateLimit answers the same numbers', async () => {
    const { secret } = await makeKey(await makeUser());
    await gql(t.app, VIEWER, {}, { key: secret });
    const result = await gql(t.app, '{ rateLimit { limit cost remaining used resetAt requests { limit } } }', {}, { key: secret });
    // rateLimit 1 + limit, cost, remaining, used, resetAt 5 + requests 1 + limit 1
    expect(result.body.data.rateLimit).toEqual({
      limit: 10_000,
      cost: 8,
      remaining: 10_000 - 3 - 8,
      used: 11,
      resetAt: WINDOW_END,
      requests: { limit: t.config.rateLimitPerMinute },
    });
    expect(costOf(result)).toMatchObject({ requestedQueryCost: 8, actualQueryCost: 8, throttleStatus: { currentlyAvailable: 10_000 - 11 } });
  });

  it('costs no database command with the memory store', async () => {
    const { secret } = await makeKey(await makeUser());
    await gql(t.app, '{ rateLimit { remaining } }', {}, { key: secret }); // the key is cached from here on
    const commands = await commandsDuring(started, () => gql(t.app, '{ rateLimit { remaining } }', {}, { key: secret }));
    expect(commands.map((c) => c.commandName)).toEqual([]);
  });
});

describe('a budget running out', () => {
  it('refuses an operation over what is left with 429 THROTTLED before anything runs: a mutation writes nothing', async () => {
    const user = await makeUser();
    const { secret, id } = await makeKey(user, 'FULL', { pointsPerMinute: 10 });
    expect((await ApiKey.findById(id).lean())!.pointsPerMinute).toBe(10);
    const spent = await gql(t.app, VIEWER, {}, { key: secret });
    expect(costOf(spent).throttleStatus).toMatchObject({ maximumAvailable: 10, currentlyAvailable: 7 });
    const before = await Workspace.countDocuments({ createdByUserId: user._id });
    // createWorkspace 1 + __typename 1 + workspace 1 + id, name, createdAt 3 + code, message 2 = 8, over the 7 left
    const create = 'mutation { createWorkspace(input: { name: "over budget" }) { __typename ... on WorkspacePayload { workspace { id name createdAt } } ... on Error { code message } } }';
    const refused = await gql(t.app, create, {}, { key: secret });
    expect(refused.status).toBe(429);
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({
      code: 'THROTTLED',
      cost: { requestedQueryCost: 8, throttleStatus: { maximumAvailable: 10, currentlyAvailable: 7 } },
    });
    expect(refused.body.errors?.[0]?.message).toMatch(/costs 8 points and only 7 of the 10 points per minute are left: retry after 50 s/);
    expect(refused.headers.get('retry-after')).toBe('50');
    expect(costOf(refused)).toMatchObject({ requestedQueryCost: 8, actualQueryCost: 0, throttleStatus: { currentlyAvailable: 7 } });
    expect(await Workspace.countDocuments({ createdByUserId: user._id })).toBe(before);
    // What still fits runs.
    const fits = await gql(t.app, VIEWER, {}, { key: secret });
    expect(fits.status).toBe(200);
    expect(costOf(fits).throttleStatus.currentlyAvailable).toBe(4);
  });

  it('an operation dearer than the whole budget is refused without Retry-After (waiting cannot help)', async () => {
    const { secret } = await makeKey(await makeUser(), 'FULL', { pointsPerMinute: 50 });
    const result = await gql(t.app, '{ apiKeys(first: 100) { edges { node { id } } } }', {}, { key: secret });
    expect(result.status).toBe(429);
    expect(result.body.errors?.[0]?.extensions?.code).toBe('THROTTLED');
    expect(result.body.errors?.[0]?.message).toMatch(/more than this key's whole budget of 50 points per minute/);
    expect(result.headers.get('retry-after')).toBeNull();
    // Nothing was charged.
    expect(costOf(result).throttleStatus.currentlyAvailable).toBe(50);
  });

  it('the whole budget is back in the next window', async () => {
    let now = NOW;
    const app = createTestApp(db(), {}, { points: new MemoryPointsBudget(() => now) });
    try {
      const { secret } = await makeKey(await makeUser(), 'FULL', { pointsPerMinute: 3 });
      expect((await gql(app.app, VIEWER, {}, { key: secret })).status).toBe(200);
      expect((await gql(app.app, VIEWER, {}, { key: secret })).status).toBe(429);
      now += 60_000;
      expect((await gql(app.app, VIEWER, {}, { key: secret })).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('pointsPerMinute only narrows', () => {
  const CREATE = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename
    ... on CreateApiKeyPayload { apiKey { id pointsPerMinute } } ... on ValidationError { field message } } }`;
  const UPDATE = `mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { __typename
    ... on ApiKeyPayload { apiKey { pointsPerMinute } } ... on ValidationError { field message } } }`;
  const create = async (secret: string, input: Record<string, unknown>) =>
    (await gql(t.app, CREATE, { input: { name: 'child', permission: 'READ_ONLY', ...input } }, { key: secret })).body.data.createApiKey;

  it('a key on the server default may set any budget up to the default', async () => {
    const { secret } = await makeKey(await makeUser());
    expect(await create(secret, { pointsPerMinute: 10_001 })).toMatchObject({ __typename: 'ValidationError', field: 'input.pointsPerMinute' });
    expect(await create(secret, { pointsPerMinute: 0 })).toMatchObject({ __typename: 'ValidationError', field: 'input.pointsPerMinute' });
    expect(await create(secret, { pointsPerMinute: 10_000 })).toMatchObject({ apiKey: { pointsPerMinute: 10_000 } });
    expect(await create(secret, {})).toMatchObject({ apiKey: { pointsPerMinute: null } });
  });

  it('a budgeted key cannot mint the default nor more, nor raise or clear its own, but may lower it', async () => {
    const parent = await makeKey(await makeUser(), 'FULL', { pointsPerMinute: 500 });
    expect(await create(parent.secret, {})).toMatchObject({ __typename: 'ValidationError', field: 'input.pointsPerMinute' });
    expect(await create(parent.secret, { pointsPerMinute: 501 })).toMatchObject({ __typename: 'ValidationError', field: 'input.pointsPerMinute' });
    expect(await create(parent.secret, { pointsPerMinute: 500 })).toMatchObject({ apiKey: { pointsPerMinute: 500 } });
    for (const pointsPerMinute of [501, null]) {
      const result = (await gql(t.app, UPDATE, { input: { id: parent.globalId, pointsPerMinute } }, { key: parent.secret })).body.data.updateApiKey;
      expect(result, String(pointsPerMinute)).toMatchObject({ __typename: 'ValidationError', field: 'input.pointsPerMinute' });
    }
    expect((await ApiKey.findById(parent.id).lean())!.pointsPerMinute).toBe(500);
    const lowered = (await gql(t.app, UPDATE, { input: { id: parent.globalId, pointsPerMinute: 100 } }, { key: parent.secret })).body.data.updateApiKey;
    expect(lowered).toMatchObject({ apiKey: { pointsPerMinute: 100 } });
  });
});

describe('the shared (mongo) store', () => {
  it('never lets instances spend more than the budget together, with a few inserts per window', async () => {
    const a = new MongoPointsBudget(clock);
    const b = new MongoPointsBudget(clock);
    const id = `cost-test-${Date.now()}`;
    const charges: Promise<{ allowed: boolean }>[] = [];
    for (let i = 0; i < 40; i++) charges.push((i % 2 ? a : b).charge(id, 100, 7));
    const results = await Promise.all(charges);
    const spent = results.filter((r) => r.allowed).length * 7;
    expect(spent).toBeLessThanOrEqual(100);
    // At most one unspent block (5 points) per instance is left aside, and each 7 rounds down.
    expect(spent).toBeGreaterThanOrEqual(100 - 2 * 5 - 2 * 7);
    expect(await RateLimitWindow.countDocuments({ _id: { $regex: `^points:${id}:` } })).toBe(20);
  });

  it('a burst on one instance leases only the blocks it needs: the other instance still gets the rest', async () => {
    const a = new MongoPointsBudget(clock);
    const b = new MongoPointsBudget(clock);
    const id = `cost-burst-${Date.now()}`;
    // 30 concurrent 1-point charges need 6 blocks of 5, not all 20.
    const burst = await Promise.all(Array.from({ length: 30 }, () => a.charge(id, 100, 1)));
    expect(burst.every((r) => r.allowed)).toBe(true);
    const later = await Promise.all(Array.from({ length: 70 }, () => b.charge(id, 100, 1)));
    expect(later.filter((r) => r.allowed).length).toBe(70);
  });

  it('through HTTP: one insert per block of a twentieth of the budget, not one per request', async () => {
    const app = createTestApp(db(), { RATE_LIMIT_STORE: 'mongo' }, { points: new MongoPointsBudget(clock) });
    try {
      const { secret } = await makeKey(await makeUser(), 'FULL', { pointsPerMinute: 100 });
      await gql(app.app, VIEWER, {}, { key: secret }); // the key is cached from here on; block 1 (5 points) claimed
      const commands = await commandsDuring(started, async () => {
        for (let i = 0; i < 10; i++) expect((await gql(app.app, VIEWER, {}, { key: secret })).status).toBe(200);
      });
      const pointInserts = commands.filter((c) => c.commandName === 'insert' && String(c.command.documents?.[0]?._id).startsWith('points:'));
      // 33 points in all: blocks 2 to 7 (5 points each), one insert each.
      expect(pointInserts).toHaveLength(6);
    } finally {
      await app.close();
    }
  });

  it('refunds go back to the instance that charged', async () => {
    const budget = new MongoPointsBudget(clock);
    const id = `cost-refund-${Date.now()}`;
    const charge = await budget.charge(id, 100, 60);
    expect(charge).toMatchObject({ allowed: true, remaining: 40 });
    budget.refund(id, 100, 50, charge.resetAt);
    expect(budget.peek(id, 100)).toMatchObject({ remaining: 90, used: 10 });
    expect(await budget.charge(id, 100, 85)).toMatchObject({ allowed: true, remaining: 5 });
  });
});
