import fc from 'fast-check';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyAuthenticator } from '../src/auth/authenticate.ts';
import { runCli } from '../src/cli/index.ts';
import { deactivateIdleKeys } from '../src/core/idle-keys.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { hostMatches, normaliseHostPattern, patternCovers, uncoveredPatterns } from '../src/rules/host-patterns.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, TEST_PEPPER, testDbUri, useTestDatabase, type TestApp } from './helpers.ts';

// allowedDestinations, allowedDomains and idleTimeoutDays: set through the API, only narrowing,
// enforced on every write that decides where people are sent, and idle keys refused then deactivated.

const { db } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  t = createTestApp(db(), { RATE_LIMIT_PER_MINUTE: '6000' });
});
afterAll(() => t.close());

const CREATE_KEY = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    __typename
    ... on CreateApiKeyPayload { secret apiKey { id allowedDestinations allowedDomains idleTimeoutDays } }
    ... on ValidationError { field message }
  }
}`;
const UPDATE_KEY = `mutation($input: UpdateApiKeyInput!) {
  updateApiKey(input: $input) {
    __typename
    ... on ApiKeyPayload { apiKey { id allowedDestinations allowedDomains idleTimeoutDays } }
    ... on ValidationError { field message }
  }
}`;
const CREATE_LINK = `mutation($input: CreateLinkInput!) {
  createLink(input: $input) { __typename ... on LinkPayload { link { id url hostname } } ... on ValidationError { field message } }
}`;
const UPDATE_LINK = `mutation($input: UpdateLinkInput!) {
  updateLink(input: $input) { __typename ... on LinkPayload { link { id url hostname } } ... on ValidationError { field message } }
}`;
const DELETE_LINK = `mutation($input: LinkIdInput!) { deleteLink(input: $input) { __typename } }`;
const UPDATE_DOMAIN = `mutation($input: UpdateDomainInput!) {
  updateDomain(input: $input) { __typename ... on DomainPayload { domain { notFoundUrl } } ... on ValidationError { field message } }
}`;

async function createKey(secret: string, input: Record<string, unknown>) {
  const result = await gql(t.app, CREATE_KEY, { input: { name: 'child', permission: 'FULL', ...input } }, { key: secret });
  expect(result.status).toBe(200);
  return result.body.data.createApiKey;
}

/** A user with a workspace, a verified custom domain in it, and a key made by the CLI with `extra`. */
async function setup(extra: Record<string, unknown> = {}) {
  const user = await makeUser();
  const workspace = await makeWorkspace(user);
  const domain = await Domain.create({ workspaceId: workspace._id, hostname: `go${Math.random().toString(36).slice(2, 8)}.brand.test`, verified: true, verificationToken: 'x' });
  const admin = await makeKey(user);
  const key = await makeKey(user, 'FULL', extra);
  return { user, workspace, domain: domain.toObject(), admin, key, workspaceId: gid('Workspace', workspace._id) };
}

function expectRefusal(result: { body: { data?: any; errors?: { extensions?: Record<string, any>; message: string }[] } }, restriction: string) {
  expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'SCOPE', restriction });
  expect(result.body.errors?.[0]?.message).toContain(restriction);
}

describe('host patterns (pure)', () => {
  it('normalises case, trailing dots and Unicode to punycode; refuses what is not a host', () => {
    expect(normaliseHostPattern('Ex\u00e4mple.COM.')).toEqual({ pattern: 'xn--exmple-cua.com' });
    expect(normaliseHostPattern('*.ex\u00e4mple.com')).toEqual({ pattern: '*.xn--exmple-cua.com' });
    expect(normaliseHostPattern('xn--exmple-cua.com')).toEqual({ pattern: 'xn--exmple-cua.com' });
    for (const bad of ['https://example.com', 'example.com/path', 'example.com:443', 'a.*.example.com', '*example.com', '*', 'localhost', '10.0.0.1', '', 'exa mple.com', 'user@example.com']) {
      expect(normaliseHostPattern(bad), bad).toHaveProperty('error');
    }
  });

  it('`*.example.com` matches hosts below it at any depth, not example.com; `example.com` only itself', () => {
    expect(hostMatches('*.example.com', 'a.example.com')).toBe(true);
    expect(hostMatches('*.example.com', 'b.a.example.com')).toBe(true);
    expect(hostMatches('*.example.com', 'example.com')).toBe(false);
    expect(hostMatches('*.example.com', 'evilexample.com')).toBe(false);
    expect(hostMatches('example.com', 'example.com.')).toBe(true);
    expect(hostMatches('example.com', 'a.example.com')).toBe(false);
    expect(patternCovers('*.example.com', '*.a.example.com')).toBe(true);
    expect(patternCovers('*.example.com', 'example.com')).toBe(false);
    expect(patternCovers('example.com', '*.example.com')).toBe(false);
  });

  it('covered patterns match only hosts the covering ones match (property)', () => {
    const label = fc.constantFrom('a', 'b', 'example', 'xexample', 'com', 'org');
    const host = fc.array(label, { minLength: 2, maxLength: 4 }).map((labels) => labels.join('.'));
    const pattern = fc.tuple(fc.boolean(), host).map(([wild, h]) => (wild ? `*.${h}` : h));
    // Children drawn at random, or derived from a parent pattern (a subdomain of a wildcard's base).
    const derived = (parent: string[]) =>
      fc.array(
        fc.tuple(fc.constantFrom(...parent), fc.array(label, { maxLength: 2 }), fc.boolean()).map(([p, extra, wild]) => {
          if (!p.startsWith('*.')) return p;
          const base = [...extra, p.slice(2)].join('.');
          return wild || extra.length === 0 ? `*.${base}` : base;
        }),
        { minLength: 1, maxLength: 4 },
      );
    const pair = fc
      .array(pattern, { minLength: 1, maxLength: 4 })
      .chain((parent) => fc.tuple(fc.constant(parent), fc.oneof(derived(parent), fc.array(pattern, { minLength: 1, maxLength: 4 }))));
    const probeFor = (child: string[]) => fc.oneof(host, fc.constantFrom(...child).chain((c) => fc.array(label, { maxLength: 2 }).map((extra) => [...extra, c.replace(/^\*\./, 'x.')].join('.'))));
    let covered = 0;
    fc.assert(
      fc.property(pair.chain(([parent, child]) => fc.tuple(fc.constant(parent), fc.constant(child), probeFor(child))), ([parent, child, probe]) => {
        if (uncoveredPatterns(parent, child).length > 0) return true;
        covered += 1;
        return !child.some((c) => hostMatches(c, probe)) || parent.some((p) => hostMatches(p, probe));
      }),
      { numRuns: 3000 },
    );
    // The interesting case (every child pattern covered) must actually have been tried.
    expect(covered).toBeGreaterThan(500);
  });
});

describe('allowedDestinations', () => {
  it('refuses createLink and updateLink outside the patterns with FORBIDDEN restriction=allowedDestinations', async () => {
    const { workspaceId, key } = await setup({ allowedDestinations: ['*.example.com', 'shop.test'] });
    const ok = await gql(t.app, CREATE_LINK, { input: { workspaceId, url: 'https://a.example.com/x' } }, { key: key.secret });
    expect(ok.body.data.createLink.__typename).toBe('LinkPayload');
    for (const url of ['https://example.com/', 'https://evil.test/', 'https://a.example.com@evil.test/', 'https://evilexample.com/', 'http://10.0.0.1/']) {
      const refused = await gql(t.app, CREATE_LINK, { input: { workspaceId, url } }, { key: key.secret });
      expect(refused.body.data?.createLink ?? null, url).toBeNull();
      expectRefusal(refused, 'allowedDestinations');
    }
    const id = ok.body.data.createLink.link.id;
    const moved = await gql(t.app, UPDATE_LINK, { input: { id, url: 'https://phish.test/' } }, { key: key.secret });
    expectRefusal(moved, 'allowedDestinations');
    expect(await Link.findOne({ url: 'https://phish.test/' }).lean()).toBeNull();
    const stays = await gql(t.app, UPDATE_LINK, { input: { id, url: 'https://shop.test/sale' } }, { key: key.secret });
    expect(stays.body.data.updateLink.link.url).toBe('https://shop.test/sale');
  });

  it('compares internationalised names in punycode, whichever way either side is written', async () => {
    const { workspaceId, key } = await setup({ allowedDestinations: ['xn--exmple-cua.com'] });
    for (const url of ['https://ex\u00e4mple.com/a', 'https://xn--exmple-cua.com/b', 'https://EX\u00c4MPLE.com/c']) {
      const ok = await gql(t.app, CREATE_LINK, { input: { workspaceId, url } }, { key: key.secret });
      expect(ok.body.data.createLink.__typename, url).toBe('LinkPayload');
    }
    expectRefusal(await gql(t.app, CREATE_LINK, { input: { workspaceId, url: 'https://example.com/' } }, { key: key.secret }), 'allowedDestinations');
    // Given in Unicode through the API: stored and shown in punycode.
    const { admin } = await setup();
    const child = await createKey(admin.secret, { allowedDestinations: ['*.Ex\u00e4mple.com'] });
    expect(child.apiKey.allowedDestinations).toEqual(['*.xn--exmple-cua.com']);
  });

  it("applies to a domain's notFoundUrl, which sends people somewhere too", async () => {
    const { domain, key } = await setup({ allowedDestinations: ['example.com'] });
    const id = gid('Domain', domain._id);
    expectRefusal(await gql(t.app, UPDATE_DOMAIN, { input: { id, notFoundUrl: 'https://evil.test/' } }, { key: key.secret }), 'allowedDestinations');
    const ok = await gql(t.app, UPDATE_DOMAIN, { input: { id, notFoundUrl: 'https://example.com/404' } }, { key: key.secret });
    expect(ok.body.data.updateDomain.domain.notFoundUrl).toBe('https://example.com/404');
  });

  it('refuses patterns that are not host patterns, with the entry named', async () => {
    const { admin } = await setup();
    const bad = await createKey(admin.secret, { allowedDestinations: ['example.com', 'https://evil.test/'] });
    expect(bad).toMatchObject({ __typename: 'ValidationError', field: 'input.allowedDestinations.1' });
    expect(bad.message).toContain('*.example.com');
  });
});

describe('allowedDomains', () => {
  it('the platform domain is named by SHORT_DOMAIN, stored as its marker and shown by its name', async () => {
    const { user, admin, workspaceId, domain } = await setup();
    const child = await createKey(admin.secret, { allowedDomains: ['TPT.test'] });
    expect(child.apiKey.allowedDomains).toEqual(['tpt.test']);
    expect((await ApiKey.findOne({ userId: user._id, name: 'child' }).lean())!.allowedDomains).toEqual(['@platform']);
    const onPlatform = await gql(t.app, CREATE_LINK, { input: { workspaceId, url: 'https://example.com/' } }, { key: child.secret });
    expect(onPlatform.body.data.createLink.link.hostname).toBe('tpt.test');
    const onBrand = await gql(t.app, CREATE_LINK, { input: { workspaceId, url: 'https://example.com/', domain: domain.hostname } }, { key: child.secret });
    expectRefusal(onBrand, 'allowedDomains');
    expect(onBrand.body.errors![0]!.message).toContain('tpt.test');
  });

  it('refuses creating, changing, moving and deleting links on other domains', async () => {
    const { workspaceId, domain, admin, key } = await setup({ allowedDomains: ['@platform'] });
    const branded = (await gql(t.app, CREATE_LINK, { input: { workspaceId, url: 'https://example.com/', domain: domain.hostname } }, { key: admin.secret })).body.data.createLink.link;
    const platform = (await gql(t.app, CREATE_LINK, { input: { workspaceId, url: 'https://example.com/' } }, { key: key.secret })).body.data.createLink.link;
    expectRefusal(await gql(t.app, UPDATE_LINK, { input: { id: branded.id, url: 'https://phish.test/' } }, { key: key.secret }), 'allowedDomains');
    expectRefusal(await gql(t.app, UPDATE_LINK, { input: { id: platform.id, domain: domain.hostname } }, { key: key.secret }), 'allowedDomains');
    expectRefusal(await gql(t.app, UPDATE_LINK, { input: { id: branded.id, domain: 'tpt.test' } }, { key: key.secret }), 'allowedDomains');
    expectRefusal(await gql(t.app, DELETE_LINK, { input: { id: branded.id } }, { key: key.secret }), 'allowedDomains');
    expect(await Link.countDocuments({ workspaceId: domain.workspaceId, domain: domain.hostname })).toBe(1);
    expect((await Link.findOne({ domain: domain.hostname }).lean())!.url).toBe('https://example.com/');
    // A custom domain's not-found page is on that domain.
    expectRefusal(await gql(t.app, UPDATE_DOMAIN, { input: { id: gid('Domain', domain._id), notFoundUrl: 'https://example.com/' } }, { key: key.secret }), 'allowedDomains');
    // Within its domains the key works as before.
    const renamed = await gql(t.app, UPDATE_LINK, { input: { id: platform.id, slug: 'renamed-ok' } }, { key: key.secret });
    expect(renamed.body.data.updateLink.__typename).toBe('LinkPayload');
    expect((await gql(t.app, DELETE_LINK, { input: { id: platform.id } }, { key: key.secret })).body.errors).toBeUndefined();
  });

  it('a wildcard covers the custom domains below it, never the platform domain', async () => {
    const { workspaceId, domain, key } = await setup({ allowedDomains: ['*.brand.test'] });
    const ok = await gql(t.app, CREATE_LINK, { input: { workspaceId, url: 'https://example.com/', domain: domain.hostname } }, { key: key.secret });
    expect(ok.body.data.createLink.link.hostname).toBe(domain.hostname);
    expectRefusal(await gql(t.app, CREATE_LINK, { input: { workspaceId, url: 'https://example.com/', domain: 'tpt.test' } }, { key: key.secret }), 'allowedDomains');
  });
});

describe('they only narrow', () => {
  it('a restricted key mints only keys whose patterns lie inside its own, never an unrestricted one', async () => {
    const { key } = await setup({ allowedDestinations: ['*.example.com'], allowedDomains: ['@platform', '*.brand.test'] });
    const inside = await createKey(key.secret, { allowedDestinations: ['a.example.com', '*.b.example.com'], allowedDomains: ['tpt.test', 'go.brand.test'] });
    expect(inside.__typename).toBe('CreateApiKeyPayload');
    for (const [input, field] of [
      [{ allowedDestinations: ['example.com'], allowedDomains: ['tpt.test'] }, 'input.allowedDestinations'],
      [{ allowedDomains: ['tpt.test'] }, 'input.allowedDestinations'],
      [{ allowedDestinations: ['a.example.com'] }, 'input.allowedDomains'],
      [{ allowedDestinations: ['a.example.com'], allowedDomains: ['brand.test'] }, 'input.allowedDomains'],
    ] as const) {
      const refused = await createKey(key.secret, input);
      expect(refused, JSON.stringify(input)).toMatchObject({ __typename: 'ValidationError', field });
      expect(refused.message).toContain('Escalation refused');
    }
    // Nor can it widen itself.
    const self = await gql(t.app, UPDATE_KEY, { input: { id: key.globalId, allowedDestinations: [] } }, { key: key.secret });
    expect(self.body.data.updateApiKey).toMatchObject({ __typename: 'ValidationError', field: 'input.allowedDestinations' });
  });

  it('idleTimeoutDays: a key with one mints only keys with one no longer', async () => {
    const { key, admin } = await setup({ idleTimeoutDays: 30 });
    expect(await createKey(key.secret, { idleTimeoutDays: 7 })).toMatchObject({ apiKey: { idleTimeoutDays: 7 } });
    expect(await createKey(key.secret, { idleTimeoutDays: 31 })).toMatchObject({ __typename: 'ValidationError', field: 'input.idleTimeoutDays' });
    expect(await createKey(key.secret, {})).toMatchObject({ __typename: 'ValidationError', field: 'input.idleTimeoutDays' });
    for (const idleTimeoutDays of [0, 3651]) {
      expect(await createKey(admin.secret, { idleTimeoutDays })).toMatchObject({ __typename: 'ValidationError', field: 'input.idleTimeoutDays' });
    }
    const cleared = await gql(t.app, UPDATE_KEY, { input: { id: key.globalId, idleTimeoutDays: null } }, { key: admin.secret });
    expect(cleared.body.data.updateApiKey.apiKey.idleTimeoutDays).toBeNull();
  });
});

describe('idleTimeoutDays', () => {
  const DAY = 24 * 3600 * 1000;
  const VIEW = `query($id: ID!) { apiKey(id: $id) { status deactivationReason } }`;

  it('a key unused for longer than its timeout is refused at once, counting uses not yet flushed', async () => {
    const user = await makeUser();
    const key = await makeKey(user, 'FULL', { idleTimeoutDays: 1 });
    const created = (await ApiKey.findById(key.id).lean())!.createdAt.getTime();
    let clock = created + DAY - 1000;
    const auth = new KeyAuthenticator({ pepper: TEST_PEPPER, cacheTtlMs: 3_600_000, maxEntries: 100, now: () => clock });
    const header = `Bearer ${key.secret}`;
    expect((await auth.authenticate(header, '127.0.0.1')).kind).toBe('key');
    // Used a second before its deadline: that use is in no record yet, and still counts.
    clock = created + DAY + 1000;
    expect((await auth.authenticate(header, '127.0.0.1')).kind).toBe('key');
    clock = created + 2 * DAY;
    expect((await auth.authenticate(header, '127.0.0.1')).kind).toBe('key');
    clock += DAY + 1;
    const refused = await auth.authenticate(header, '127.0.0.1');
    expect(refused).toMatchObject({ kind: 'failure', failure: { status: 401, code: 'UNAUTHENTICATED' } });
    expect(refused.kind === 'failure' && refused.failure.message).toContain('idleTimeoutDays');
    // Never used at all: counted from its creation.
    const fresh = new KeyAuthenticator({ pepper: TEST_PEPPER, cacheTtlMs: 0, maxEntries: 100, now: () => created + DAY + 1 });
    expect((await fresh.authenticate(header, '127.0.0.1')).kind).toBe('failure');
  });

  it('over HTTP: refused with 401, shown as IDLE, then deactivated with reason IDLE by the job', async () => {
    const user = await makeUser();
    const viewer = await makeKey(user);
    const idle = await makeKey(user, 'FULL', { idleTimeoutDays: 2 });
    const busy = await makeKey(user, 'FULL', { idleTimeoutDays: 2 });
    const none = await makeKey(user);
    const longAgo = new Date(Date.now() - 3 * DAY);
    await ApiKey.collection.updateMany({ _id: { $in: [idle, none].map((k) => new Types.ObjectId(k.id)) } }, { $set: { lastUsedAt: longAgo, createdAt: longAgo } });
    const refused = await gql(t.app, '{ viewer { key { name } } }', {}, { key: idle.secret });
    expect(refused.status).toBe(401);
    expect(refused.body.errors![0]!.message).toContain('idleTimeoutDays');
    expect((await gql(t.app, VIEW, { id: idle.globalId }, { key: viewer.secret })).body.data.apiKey).toEqual({ status: 'ACTIVE', deactivationReason: 'IDLE' });
    expect(await deactivateIdleKeys(t.services)).toBe(1);
    expect((await gql(t.app, VIEW, { id: idle.globalId }, { key: viewer.secret })).body.data.apiKey).toEqual({ status: 'DEACTIVATED', deactivationReason: 'IDLE' });
    for (const k of [busy, none, viewer]) expect((await ApiKey.findById(k.id).lean())!.status).toBe('ACTIVE');
    expect(await deactivateIdleKeys(t.services)).toBe(0);
    expect(t.logs.text).toContain('idle API key deactivated');
    expect(t.logs.text).not.toContain(idle.secret);
  });

  it('the job counts uses still in the usage batch, and waits two flush intervals past the deadline', async () => {
    const user = await makeUser();
    const key = await makeKey(user, 'FULL', { idleTimeoutDays: 1 });
    const before = new Date(Date.now() - DAY + 60_000);
    await ApiKey.collection.updateOne({ _id: new Types.ObjectId(key.id) }, { $set: { lastUsedAt: before, createdAt: before } });
    // Used now: the use sits in the usage batch (USAGE_FLUSH_MS is a minute in tests).
    expect((await gql(t.app, '{ viewer { key { name } } }', {}, { key: key.secret })).status).toBe(200);
    expect(await deactivateIdleKeys(t.services, new Date(Date.now() + 10 * 60_000))).toBe(0);
    expect((await ApiKey.findById(key.id).lean())!.status).toBe('ACTIVE');
    // Idle by the record, but within the margin for other instances' batches: kept for now.
    const unused = await makeKey(user, 'FULL', { idleTimeoutDays: 1 });
    const created = (await ApiKey.findById(unused.id).lean())!.createdAt.getTime();
    expect(await deactivateIdleKeys(t.services, new Date(created + DAY + 60_000))).toBe(0);
    expect(await deactivateIdleKeys(t.services, new Date(created + DAY + 2 * t.config.usageFlushMs + 1))).toBeGreaterThanOrEqual(1);
    expect((await ApiKey.findById(unused.id).lean())!.deactivationReason).toBe('IDLE');
  });
});

describe('key create (CLI)', () => {
  async function cli(...args: string[]) {
    let stdout = '';
    let stderr = '';
    const env = { NODE_ENV: 'test', MONGODB_URI: testDbUri(db().connection.name), API_KEY_PEPPER: TEST_PEPPER, SHORT_DOMAIN: 'tpt.test' };
    const code = await runCli(args, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env, database: db() });
    return { code, stdout, stderr };
  }

  it('sets the restrictions, and names the option at fault', async () => {
    const user = await makeUser('cli');
    const base = ['key', 'create', '--email', user.email, '--name', 'ci', '--permission', 'FULL'];
    const made = await cli(...base, '--allowed-destinations', '*.Ex\u00e4mple.com', '--allowed-destinations', 'shop.test', '--allowed-domains', 'tpt.test', '--idle-timeout-days', '90');
    expect(made.code, made.stderr).toBe(0);
    const stored = (await ApiKey.findOne({ userId: user._id }).lean())!;
    expect(stored).toMatchObject({ allowedDestinations: ['*.xn--exmple-cua.com', 'shop.test'], allowedDomains: ['@platform'], idleTimeoutDays: 90 });
    const list = await cli('key', 'list', '--email', user.email, '--json');
    expect(JSON.parse(list.stdout)[0]).toMatchObject({ allowedDomains: ['tpt.test'], idleTimeoutDays: 90 });
    const bad = await cli(...base, '--allowed-destinations', 'https://x.test/');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--allowed-destinations');
    const badDays = await cli(...base, '--idle-timeout-days', '2w');
    expect(badDays.code).toBe(2);
    expect(badDays.stderr).toContain('--idle-timeout-days');
  });
});
