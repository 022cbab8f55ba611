import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import type { UserDoc } from '../src/models/user.ts';
import { Workspace, type WorkspaceDoc } from '../src/models/workspace.ts';
import { keyPolicyViolation } from '../src/rules/key-policy.ts';
import { commandsDuring, createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type GqlResult, type TestApp } from './helpers.ts';

// A workspace's key policy refuses, inside that workspace only, the keys that break it:
// FORBIDDEN with extensions.reason POLICY and extensions.policy naming the rule.

const { db, started } = useTestDatabase();
let t: TestApp;
let owner: UserDoc;
let member: UserDoc;
let strict: WorkspaceDoc; // gets a policy
let open: WorkspaceDoc; // never has one
let strictLink: string;
let openLink: string;
/** Meets any policy of these tests: expires in 10 days, limited to the test client's address. */
let compliant: string;

const DAY = 86_400_000;
const inDays = (days: number) => new Date(Date.now() + days * DAY);

const SET_POLICY = `mutation($input: UpdateWorkspaceKeyPolicyInput!) { updateWorkspaceKeyPolicy(input: $input) {
  __typename ... on WorkspaceKeyPolicyPayload { keyPolicy { maxLifetimeDays requireExpiry requireIpAllowlist } workspace { name } }
  ... on ValidationError { field message } ... on Error { code } } }`;

async function setPolicy(policy: Record<string, unknown>) {
  await Workspace.updateOne({ _id: strict._id }, { $set: { keyPolicy: { maxLifetimeDays: null, requireExpiry: false, requireIpAllowlist: false, ...policy } } }).exec();
  t.services.documents.clear();
}

function expectPolicyRefusal(result: GqlResult, rule: string) {
  expect(result.status, JSON.stringify(result.body)).toBe(200);
  expect(result.body.errors, JSON.stringify(result.body)).toHaveLength(1);
  expect(result.body.errors![0]!.extensions).toEqual({ code: 'FORBIDDEN', reason: 'POLICY', policy: rule });
  expect(result.body.errors![0]!.message).toContain(rule);
}

beforeAll(async () => {
  t = createTestApp(db());
  owner = await makeUser('owner');
  member = await makeUser('member');
  strict = await makeWorkspace(owner, 'strict', [[member, 'MEMBER']]);
  open = await makeWorkspace(owner, 'open', [[member, 'MEMBER']]);
  const links = await Link.insertMany([
    { workspaceId: strict._id, domain: 'localhost:4000', slug: 'kp-strict', url: 'https://example.com/a', createdByUserId: owner._id },
    { workspaceId: open._id, domain: 'localhost:4000', slug: 'kp-open', url: 'https://example.com/b', createdByUserId: owner._id },
  ]);
  strictLink = gid('Link', links[0]!._id);
  openLink = gid('Link', links[1]!._id);
  compliant = (await makeKey(owner, 'FULL', { expiresAt: inDays(10), allowedIps: ['127.0.0.1'] })).secret;
});
afterAll(() => t.close());

describe('keyPolicyViolation', () => {
  const createdAt = new Date('2026-01-01T00:00:00Z');
  it('checks requireExpiry, then maxLifetimeDays (from creation to expiry; never expiring breaks it), then requireIpAllowlist', () => {
    const never = { createdAt, expiresAt: null, allowedIps: [] };
    expect(keyPolicyViolation(null, never)).toBeNull();
    expect(keyPolicyViolation({ requireExpiry: true, maxLifetimeDays: 30, requireIpAllowlist: true }, never)).toBe('requireExpiry');
    expect(keyPolicyViolation({ maxLifetimeDays: 30 }, never)).toBe('maxLifetimeDays');
    expect(keyPolicyViolation({ maxLifetimeDays: 30 }, { ...never, expiresAt: new Date('2026-01-31T00:00:00Z') })).toBeNull();
    expect(keyPolicyViolation({ maxLifetimeDays: 30 }, { ...never, expiresAt: new Date('2026-01-31T00:00:01Z') })).toBe('maxLifetimeDays');
    expect(keyPolicyViolation({ requireIpAllowlist: true }, never)).toBe('requireIpAllowlist');
    expect(keyPolicyViolation({ requireIpAllowlist: true }, { ...never, allowedIps: ['10.0.0.0/8'] })).toBeNull();
  });
});

describe('Workspace.keyPolicy and updateWorkspaceKeyPolicy', () => {
  it('every rule is off until an owner sets one; members read it', async () => {
    const { secret } = await makeKey(member, 'READ_ONLY');
    const result = await gql(t.app, 'query($id: ID!) { workspace(id: $id) { keyPolicy { maxLifetimeDays requireExpiry requireIpAllowlist } } }', { id: gid('Workspace', open._id) }, { key: secret });
    expect(result.body.data).toEqual({ workspace: { keyPolicy: { maxLifetimeDays: null, requireExpiry: false, requireIpAllowlist: false } } });
  });

  it('an owner sets it; from the next request a key breaking it is refused in that workspace (the cached workspace is dropped), and works in the other', async () => {
    const { secret: loose } = await makeKey(owner, 'FULL');
    const read = (id: string) => gql(t.app, 'query($id: ID!) { workspace(id: $id) { name } }', { id }, { key: loose });
    expect((await read(gid('Workspace', strict._id))).body.data.workspace).toEqual({ name: 'strict' }); // now cached across requests

    const set = await gql(t.app, SET_POLICY, { input: { workspaceId: gid('Workspace', strict._id), requireExpiry: true, maxLifetimeDays: 30 } }, { key: compliant });
    expect(set.body.data.updateWorkspaceKeyPolicy).toEqual({
      __typename: 'WorkspaceKeyPolicyPayload',
      keyPolicy: { maxLifetimeDays: 30, requireExpiry: true, requireIpAllowlist: false },
      workspace: { name: 'strict' },
    });

    const refused = await read(gid('Workspace', strict._id));
    expectPolicyRefusal(refused, 'requireExpiry');
    expect(refused.body.data).toEqual({ workspace: null });
    expect((await read(gid('Workspace', open._id))).body.data).toEqual({ workspace: { name: 'open' } });
    // Omitted fields keep their value.
    const partial = await gql(t.app, SET_POLICY, { input: { workspaceId: gid('Workspace', strict._id), maxLifetimeDays: null } }, { key: compliant });
    expect(partial.body.data.updateWorkspaceKeyPolicy.keyPolicy).toEqual({ maxLifetimeDays: null, requireExpiry: true, requireIpAllowlist: false });
  });

  it('refuses a policy the calling key breaks itself (no lock-out by mistake), and a lifetime out of range; nothing changes', async () => {
    await setPolicy({});
    const { secret: loose } = await makeKey(owner, 'FULL');
    const input = { workspaceId: gid('Workspace', strict._id) };
    const own = await gql(t.app, SET_POLICY, { input: { ...input, requireIpAllowlist: true } }, { key: loose });
    expect(own.body.data.updateWorkspaceKeyPolicy).toMatchObject({ __typename: 'ValidationError', field: 'input.requireIpAllowlist' });
    for (const maxLifetimeDays of [0, -1, 3651]) {
      const bad = await gql(t.app, SET_POLICY, { input: { ...input, maxLifetimeDays } }, { key: compliant });
      expect(bad.body.data.updateWorkspaceKeyPolicy).toMatchObject({ __typename: 'ValidationError', field: 'input.maxLifetimeDays' });
    }
    expect((await Workspace.findById(strict._id).lean().exec())!.keyPolicy).toEqual({ maxLifetimeDays: null, requireExpiry: false, requireIpAllowlist: false });
  });

  it('a MEMBER cannot set it (ROLE), whatever the key', async () => {
    const { secret } = await makeKey(member, 'FULL', { expiresAt: inDays(5), allowedIps: ['127.0.0.1'] });
    const result = await gql(t.app, SET_POLICY, { input: { workspaceId: gid('Workspace', strict._id), requireExpiry: true } }, { key: secret });
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'ROLE' });
  });
});

describe('a key that breaks the policy', () => {
  beforeAll(() => setPolicy({ requireExpiry: true, maxLifetimeDays: 30, requireIpAllowlist: true }));

  it.each([
    ['requireExpiry', {}],
    ['maxLifetimeDays', { expiresAt: inDays(31) }],
    ['requireIpAllowlist', { expiresAt: inDays(29) }],
  ] as const)('is refused by %s on every field touching the workspace, and works in the other workspace of the same user', async (rule, extra) => {
    const { secret } = await makeKey(member, 'FULL', extra);
    const strictId = gid('Workspace', strict._id);
    const openId = gid('Workspace', open._id);
    const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ['query($id: ID!) { workspace(id: $id) { name } }', { id: strictId }, { id: openId }],
      ['query($id: ID!) { link(id: $id) { slug } }', { id: strictLink }, { id: openLink }],
      ['query($id: ID!) { node(id: $id) { id } }', { id: strictLink }, { id: openLink }],
      ['query($w: ID) { links(workspaceId: $w) { totalCount } }', { w: strictId }, { w: openId }],
      ['query($w: ID) { projects(workspaceId: $w) { totalCount } }', { w: strictId }, { w: openId }],
      ['query($id: ID!) { workspaceStats(workspaceId: $id) { ... on WorkspaceStats { totalClicks } } }', { id: strictId }, { id: openId }],
      [
        'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }',
        { i: { workspaceId: strictId, url: 'https://example.com/new' } },
        { i: { workspaceId: openId, url: 'https://example.com/new' } },
      ],
      ['mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename } }', { i: { id: strictLink, title: 'x' } }, { i: { id: openLink, title: 'x' } }],
    ];
    for (const [document, inside, outside] of cases) {
      expectPolicyRefusal(await gql(t.app, document, inside, { key: secret }), rule);
      const elsewhere = await gql(t.app, document, outside, { key: secret });
      expect(elsewhere.body.errors, `${document} ${JSON.stringify(elsewhere.body)}`).toBeUndefined();
    }
    expect(await Link.countDocuments({ workspaceId: strict._id, url: 'https://example.com/new' }).exec()).toBe(0);
  });

  it('lists over every workspace leave that workspace out, without an error (the key still works elsewhere)', async () => {
    const { secret } = await makeKey(member, 'FULL');
    const result = await gql(
      t.app,
      '{ workspaces { edges { node { name } } } links { edges { node { slug } } } viewer { workspaces { workspace { name } } } }',
      {},
      { key: secret },
    );
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.workspaces.edges.map((e: any) => e.node.name)).toEqual(['open']);
    expect(result.body.data.links.edges.map((e: any) => e.node.slug)).not.toContain('kp-strict');
    expect(result.body.data.viewer.workspaces.map((w: any) => w.workspace.name)).toEqual(['open']);
    // A key restricted to both: its own restriction list leaves the blocked one out too, instead of failing.
    const { secret: both } = await makeKey(member, 'FULL', { workspaces: [strict._id, open._id] });
    const own = await gql(t.app, '{ viewer { key { workspaces { name } } } }', {}, { key: both });
    expect(own.body.errors).toBeUndefined();
    expect(own.body.data.viewer.key.workspaces).toEqual([{ name: 'open' }]);
  });

  it('is blocked, not revoked: a compliant key of the same user works there, and the key works again once the policy is lifted', async () => {
    const { secret } = await makeKey(member, 'FULL');
    const read = (key: string) => gql(t.app, 'query($id: ID!) { link(id: $id) { slug } }', { id: strictLink }, { key });
    expectPolicyRefusal(await read(secret), 'requireExpiry');
    const { secret: good } = await makeKey(member, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }], expiresAt: inDays(7), allowedIps: ['127.0.0.0/8'] });
    expect((await read(good)).body.data).toEqual({ link: { slug: 'kp-strict' } });
    await setPolicy({});
    expect((await read(secret)).body.data).toEqual({ link: { slug: 'kp-strict' } });
    await setPolicy({ requireExpiry: true, maxLifetimeDays: 30, requireIpAllowlist: true });
  });

  it('what the key may not see still does not exist: restricted away, or another user’s, it answers null without POLICY', async () => {
    const { secret: restricted } = await makeKey(member, 'FULL', { workspaces: [open._id] });
    const stranger = (await makeKey(await makeUser('stranger'))).secret;
    for (const key of [restricted, stranger]) {
      const result = await gql(t.app, 'query($id: ID!, $w: ID!) { link(id: $id) { slug } workspace(id: $w) { name } }', { id: strictLink, w: gid('Workspace', strict._id) }, { key });
      expect(result.body.errors).toBeUndefined();
      expect(result.body.data).toEqual({ link: null, workspace: null });
    }
  });

  it('a SCOPE refusal comes first: a key lacking the permission is told so, not about the policy', async () => {
    const { secret } = await makeKey(member, 'LIMITED', { scopes: [{ resource: 'PROJECTS', access: 'READ' }] });
    const result = await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }', { i: { workspaceId: gid('Workspace', strict._id), url: 'https://example.com/x' } }, { key: secret });
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'SCOPE' });
  });

  it('the check reads the workspace by primary key, and nothing once it is cached across requests', async () => {
    const { secret } = await makeKey(member, 'FULL');
    const query = 'query($id: ID!) { link(id: $id) { slug } }';
    await gql(t.app, query, { id: openLink }, { key: secret }); // key cached
    t.services.documents.clear();
    const cold = await commandsDuring(started, () => gql(t.app, query, { id: openLink }, { key: secret }));
    const names = (sent: typeof cold) => sent.map((c) => `${c.commandName} ${c.command.find ?? ''}`.trim()).sort();
    console.log(`[key-policy] link(id) cold: ${names(cold).join(', ')}`);
    expect(names(cold)).toEqual(['find links', 'find userroles', 'find workspaces']);
    expect(cold.find((c) => c.command.find === 'workspaces')!.command.filter).toEqual({ _id: open._id });
    const warm = await commandsDuring(started, () => gql(t.app, query, { id: openLink }, { key: secret }));
    expect(names(warm)).toEqual(['find links', 'find userroles']);
  });
});
