import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Types } from 'mongoose';
import { PermissionUsageDay } from '../src/models/permission-usage.ts';
import type { UserDoc } from '../src/models/user.ts';
import type { WorkspaceDoc } from '../src/models/workspace.ts';
import { heldPermissions, windowDays } from '../src/rules/permission-usage.ts';
import { commandsDuring, createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

// ApiKey.permissionUsage: which permissions a key used, counted once per request where a check
// needing it passed, kept in memory and flushed as $inc upserts into one document per key and day.

const { db, started } = useTestDatabase();
let t: TestApp;
let owner: UserDoc;
let workspace: WorkspaceDoc;

const USAGE = 'query($days: Int) { viewer { key { permissionUsage(days: $days) { permission uses lastUsedAt } } } }';
const LINKS = '{ links(first: 1) { totalCount } again: links(first: 2) { totalCount } }';
const CREATE_LINK = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }';

beforeAll(async () => {
  // A long interval: only explicit flushes write, so the test sees exactly when counts land.
  t = createTestApp(db(), { USAGE_FLUSH_MS: '60000' });
  owner = await makeUser('owner');
  workspace = await makeWorkspace(owner, 'usage');
});
afterAll(() => t.close());

const usageOf = async (key: string, days?: number) => {
  const result = await gql(t.app, USAGE, days === undefined ? {} : { days }, { key });
  expect(result.body.errors, JSON.stringify(result.body)).toBeUndefined();
  return result.body.data.viewer.key.permissionUsage as { permission: string; uses: number; lastUsedAt: string | null }[];
};

describe('heldPermissions', () => {
  it('lists what the key holds: WRITE implies READ, keys:* for FULL and READ_ONLY', () => {
    expect(heldPermissions({ permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'WRITE' }, { resource: 'ANALYTICS', access: 'READ' }] })).toEqual([
      'links:read',
      'links:write',
      'analytics:read',
    ]);
    const full = heldPermissions({ permission: 'FULL', scopes: [] });
    expect(full).toContain('workspaces:write');
    expect(full.slice(-2)).toEqual(['keys:read', 'keys:write']);
    expect(heldPermissions({ permission: 'READ_ONLY', scopes: [] }).every((p) => p.endsWith(':read'))).toBe(true);
  });
  it('a window is that many UTC days, today first', () => {
    expect(windowDays(3, new Date('2026-03-01T23:59:00Z'))).toEqual(['2026-03-01', '2026-02-28', '2026-02-27']);
  });
});

describe('ApiKey.permissionUsage', () => {
  it('counts each permission once per request, after the flush; unused ones show 0 and null', async () => {
    const key = await makeKey(owner, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'WRITE' }, { resource: 'ANALYTICS', access: 'READ' }] });
    const before = new Date();
    for (let i = 0; i < 2; i++) expect((await gql(t.app, LINKS, {}, { key: key.secret })).body.errors).toBeUndefined();
    const created = await gql(t.app, CREATE_LINK, { i: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.com/u' } }, { key: key.secret });
    expect(created.body.data.createLink.__typename, JSON.stringify(created.body)).toBe('LinkPayload');
    // Not written on the request path: nothing until the flush.
    expect((await usageOf(key.secret)).every((row) => row.uses === 0)).toBe(true);
    await t.services.usage.flush();
    const rows = await usageOf(key.secret);
    expect(rows.map(({ permission, uses }) => ({ permission, uses }))).toEqual([
      { permission: 'links:read', uses: 2 },
      { permission: 'links:write', uses: 1 },
      { permission: 'analytics:read', uses: 0 },
    ]);
    expect(new Date(rows[0]!.lastUsedAt!).getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);
    expect(rows[2]!.lastUsedAt).toBeNull();
    // One document per key and day, addressed by `<keyId>:<day>`.
    const today = new Date().toISOString().slice(0, 10);
    const doc = await PermissionUsageDay.findById(`${key.id}:${today}`).lean().exec();
    expect(doc).toMatchObject({ keyId: new Types.ObjectId(key.id), day: today, uses: { 'links:read': 2, 'links:write': 1 } });
  });

  it('asking authorize about a document is not a use of its permissions', async () => {
    const key = await makeKey(owner, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'WRITE' }] });
    const asked = await gql(t.app, 'query($q: String!) { authorize(input: { query: $q }) { allowed } }', { q: LINKS }, { key: key.secret });
    expect(asked.body.data.authorize.allowed, JSON.stringify(asked.body)).toBe(true);
    await t.services.usage.flush();
    expect((await usageOf(key.secret)).map(({ permission, uses }) => ({ permission, uses }))).toEqual([
      { permission: 'links:read', uses: 0 },
      { permission: 'links:write', uses: 0 },
    ]);
  });

  it('adds up the days of the window only', async () => {
    const key = await makeKey(owner, 'READ_ONLY');
    const tenDaysAgo = windowDays(11, new Date())[10]!;
    await PermissionUsageDay.create({ _id: `${key.id}:${tenDaysAgo}`, keyId: key.id, day: tenDaysAgo, uses: { 'links:read': 5 }, last: { 'links:read': new Date(`${tenDaysAgo}T12:00:00Z`) } });
    await gql(t.app, '{ links(first: 1) { totalCount } }', {}, { key: key.secret });
    await t.services.usage.flush();
    const read = async (days?: number) => (await usageOf(key.secret, days)).find((row) => row.permission === 'links:read')!;
    expect(await read(5)).toMatchObject({ uses: 1 });
    expect(await read()).toMatchObject({ uses: 6 });
    expect(await read(11)).toMatchObject({ uses: 6 });
    expect(await read(10)).toMatchObject({ uses: 1 });
  });

  it('reads one document by _id per day of the window (the embedded database)', async () => {
    const key = await makeKey(owner, 'READ_ONLY');
    await usageOf(key.secret); // key cached
    const sent = await commandsDuring(started, () => usageOf(key.secret, 7));
    const reads = sent.filter((c) => c.command.find === 'permissionusagedays');
    if (db().kind === 'ferretdb') {
      expect(reads.map((c) => c.command.filter)).toEqual(windowDays(7, new Date()).map((day) => ({ _id: `${key.id}:${day}` })));
    } else {
      expect(reads).toHaveLength(1);
    }
    console.log(`[permission-usage] permissionUsage(days: 7): ${sent.length} commands`);
  });

  it('days must be 1 to 90: otherwise BAD_USER_INPUT naming days', async () => {
    const key = await makeKey(owner, 'READ_ONLY');
    for (const days of [0, -1, 91]) {
      const result = await gql(t.app, USAGE, { days }, { key: key.secret });
      expect(result.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', argument: 'days' });
    }
    expect(await usageOf(key.secret, 90)).toHaveLength(heldPermissions({ permission: 'READ_ONLY', scopes: [] }).length);
  });

  it("another key's usage needs keys:read, like the rest of that key", async () => {
    const limited = await makeKey(owner, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }] });
    const other = await makeKey(owner, 'READ_ONLY');
    const document = 'query($id: ID!) { apiKey(id: $id) { permissionUsage { permission } } }';
    expect((await gql(t.app, document, { id: other.globalId }, { key: limited.secret })).body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    expect((await gql(t.app, document, { id: limited.globalId }, { key: other.secret })).body.data.apiKey.permissionUsage).toEqual([{ permission: 'links:read' }]);
  });
});
