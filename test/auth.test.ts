import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mongoose from 'mongoose';
import { GraphQLClient, ClientError } from 'graphql-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/rules/keys.ts';
import { MemoryRateLimiter, MongoRateLimiter } from '../src/auth/rate-limit.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { ApiKeySecret } from '../src/models/api-key-secret.ts';
import {
  countQueries,
  createTestApp,
  gid,
  gql,
  listenOnSocket,
  makeKey,
  makeUser,
  makeWorkspace,
  useTestDatabase,
  type TestApp,
} from './helpers.ts';
import { waitFor } from './process.ts';

const { db, commands } = useTestDatabase();
let t: TestApp;
const secrets: string[] = [];

beforeAll(() => {
  t = createTestApp(db());
});
afterAll(() => t.close());

async function key(...args: Parameters<typeof makeKey>) {
  const created = await makeKey(...args);
  secrets.push(created.secret);
  return created;
}

const VIEWER = '{ viewer { key { id name permission } user { email } } }';

function expect401(result: Awaited<ReturnType<typeof gql>>, message: RegExp) {
  expect(result.status).toBe(401);
  expect(result.body.data).toBeUndefined();
  expect(result.body.errors).toHaveLength(1);
  expect(result.body.errors![0]!.extensions).toEqual({ code: 'UNAUTHENTICATED' });
  expect(result.body.errors![0]!.message).toMatch(message);
}

describe('authentication failures: 401, UNAUTHENTICATED and what to fix', () => {
  it('missing header', async () => {
    expect401(await gql(t.app, VIEWER), /Missing API key: send it as "Authorization: Bearer taapit_…"/);
  });

  it('wrong scheme', async () => {
    const { secret } = await key(await makeUser());
    expect401(await gql(t.app, VIEWER, {}, { authorization: `Basic ${secret}` }), /expected "Bearer <key>"; check that the whole key, including the taapit_ prefix, was copied/);
    expect401(await gql(t.app, VIEWER, {}, { authorization: secret }), /Malformed Authorization header/);
  });

  it('malformed key: wrong prefix or length', async () => {
    expect401(await gql(t.app, VIEWER, {}, { key: 'sk_live_abc' }), /Malformed API key: check that the whole key, including the taapit_ prefix, was copied/);
    expect401(await gql(t.app, VIEWER, {}, { key: generateApiKey().slice(0, -2) }), /Malformed API key/);
  });

  it('bad checksum: refused without a single database query', async () => {
    const good = generateApiKey();
    const bad = `${good.slice(0, 10)}${good[10] === 'A' ? 'B' : 'A'}${good.slice(11)}`;
    const { count } = await countQueries(commands, async () => {
      expect401(await gql(t.app, VIEWER, {}, { key: bad }), /Malformed API key/);
    });
    expect(count).toBe(0);
  });

  it('unknown key with a valid checksum', async () => {
    expect401(await gql(t.app, VIEWER, {}, { key: generateApiKey() }), /Invalid API key/);
  });

  it('deactivated key', async () => {
    const user = await makeUser();
    const created = await key(user);
    await ApiKey.updateOne({ _id: created.id }, { status: 'DEACTIVATED', deactivatedAt: new Date() });
    expect401(await gql(t.app, VIEWER, {}, { key: created.secret }), /This API key was deactivated at .*: use an active key or create a new one/);
  });

  it('expired key', async () => {
    const created = await key(await makeUser(), 'FULL', { expiresAt: new Date(Date.now() - 1000) });
    expect401(await gql(t.app, VIEWER, {}, { key: created.secret }), /This API key expired at .*: create a new key/);
  });

  it('rotated key after its grace period', async () => {
    const user = await makeUser();
    const admin = await key(user);
    const target = await key(user, 'READ_ONLY');
    const rotate = await gql(
      t.app,
      'mutation($input: RotateApiKeyInput!) { rotateApiKey(input: $input) { __typename ... on CreateApiKeyPayload { secret apiKey { previousSecretExpiresAt } } } }',
      { input: { id: target.globalId, gracePeriodSeconds: 60 } },
      { key: admin.secret },
    );
    const newSecret = rotate.body.data.rotateApiKey.secret as string;
    secrets.push(newSecret);
    expect(rotate.body.data.rotateApiKey.apiKey.previousSecretExpiresAt).toBeTruthy();
    // During the grace period both secrets work.
    expect((await gql(t.app, VIEWER, {}, { key: target.secret })).status).toBe(200);
    expect((await gql(t.app, VIEWER, {}, { key: newSecret })).status).toBe(200);
    // End the grace period (as time would) and drop this instance's cache entry.
    await ApiKey.updateOne({ _id: target.id }, { previousSecretExpiresAt: new Date(Date.now() - 1) });
    t.services.authenticator.invalidate(target.id);
    expect401(await gql(t.app, VIEWER, {}, { key: target.secret }), /rotated and its grace period is over: use the new secret/);
    expect((await gql(t.app, VIEWER, {}, { key: newSecret })).status).toBe(200);
  });

  it('rotation without grace refuses the old secret on the very next request', async () => {
    const user = await makeUser();
    const admin = await key(user);
    expect((await gql(t.app, VIEWER, {}, { key: admin.secret })).status).toBe(200); // cached now
    const rotate = await gql(
      t.app,
      'mutation($input: RotateApiKeyInput!) { rotateApiKey(input: $input) { ... on CreateApiKeyPayload { secret } } }',
      { input: { id: admin.globalId } },
      { key: admin.secret },
    );
    secrets.push(rotate.body.data.rotateApiKey.secret);
    expect401(await gql(t.app, VIEWER, {}, { key: admin.secret }), /rotated/);
    expect((await gql(t.app, VIEWER, {}, { key: rotate.body.data.rotateApiKey.secret })).status).toBe(200);
  });
});

describe('introspection', () => {
  it('works without a key, but a bad key sent with it is still refused', async () => {
    const result = await gql(t.app, '{ __schema { queryType { name } } }');
    expect(result.status).toBe(200);
    expect(result.body.data.__schema.queryType.name).toBe('Query');
    expect401(await gql(t.app, '{ __typename }', {}, { key: generateApiKey() }), /Invalid API key/);
    // Mixing introspection with data still needs a key.
    expect401(await gql(t.app, '{ __typename viewer { key { name } } }'), /Missing API key/);
  });

  it("GraphiQL's placeholder key counts as no key for introspection, and only for introspection", async () => {
    const placeholder = { authorization: 'Bearer taapit_...' };
    // GraphiQL's first load: its schema request carries the template's placeholder header.
    const introspection = await gql(t.app, 'query IntrospectionQuery { __schema { queryType { name description } } }', {}, placeholder);
    expect(introspection.status).toBe(200);
    expect(introspection.body.data.__schema.queryType.name).toBe('Query');
    // Anything else with the placeholder keeps its own 401, whatever the document.
    expect401(await gql(t.app, VIEWER, {}, placeholder), /This is the placeholder key: replace taapit_\.\.\./);
    expect401(await gql(t.app, '{ __typename viewer { key { name } } }', {}, placeholder), /placeholder key/);
    expect401(await gql(t.app, 'this is not graphql', {}, placeholder), /placeholder key/);
    // Introspection that is not public still needs a real key.
    const keyed = createTestApp(db(), { INTROSPECTION: 'key' });
    expect401(await gql(keyed.app, '{ __schema { queryType { name } } }', {}, placeholder), /placeholder key/);
    await keyed.close();
  });

  it('the placeholder counts in the anonymous window of its address, like no key', async () => {
    const limited = createTestApp(db(), { ANONYMOUS_RATE_LIMIT_PER_MINUTE: '2' });
    const placeholder = { authorization: 'Bearer taapit_...', ip: '198.51.100.140' };
    expect((await gql(limited.app, '{ __schema { queryType { name } } }', {}, placeholder)).status).toBe(200);
    expect((await gql(limited.app, '{ __schema { queryType { name } } }', {}, { ip: placeholder.ip })).status).toBe(200);
    const refused = await gql(limited.app, '{ __schema { queryType { name } } }', {}, placeholder);
    expect(refused.status).toBe(429);
    expect(refused.body.errors![0]!.message).toMatch(/anonymous requests per minute exceeded for this address/);
    await limited.close();
  });

  it('authentication comes before validation: a bad or missing key with an invalid document is still a 401', async () => {
    expect401(await gql(t.app, '{ nope }', {}, { key: generateApiKey() }), /Invalid API key/);
    expect401(await gql(t.app, '{ viewer { nope } }'), /Missing API key/);
    expect401(await gql(t.app, 'this is not graphql'), /Missing API key/);
  });

  it('INTROSPECTION=key needs a key; INTROSPECTION=off refuses it for everyone', async () => {
    const keyed = createTestApp(db(), { INTROSPECTION: 'key' });
    expect401(await gql(keyed.app, '{ __schema { queryType { name } } }'), /Missing API key/);
    const { secret } = await key(await makeUser());
    expect((await gql(keyed.app, '{ __schema { queryType { name } } }', {}, { key: secret })).status).toBe(200);
    const off = createTestApp(db(), { INTROSPECTION: 'off' });
    const refused = await gql(off.app, '{ __schema { queryType { name } } }', {}, { key: secret });
    expect(refused.body.errors?.[0]?.message).toMatch(/introspection/i);
    await keyed.close();
    await off.close();
  });
});

describe('allowedIps (403 for the whole request)', () => {
  it('allows a listed IP and a CIDR, refuses others', async () => {
    const user = await makeUser();
    const single = await key(user, 'FULL', { allowedIps: ['203.0.113.7'] });
    const cidr = await key(user, 'FULL', { allowedIps: ['10.0.0.0/8', '2001:db8::/32'] });
    expect((await gql(t.app, VIEWER, {}, { key: single.secret, ip: '203.0.113.7' })).status).toBe(200);
    const refused = await gql(t.app, VIEWER, {}, { key: single.secret, ip: '203.0.113.8' });
    expect(refused.status).toBe(403);
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors![0]!.extensions!.code).toBe('FORBIDDEN');
    expect(refused.body.errors![0]!.message).toContain('may not be used from 203.0.113.8');
    expect((await gql(t.app, VIEWER, {}, { key: cidr.secret, ip: '10.9.8.7' })).status).toBe(200);
    expect((await gql(t.app, VIEWER, {}, { key: cidr.secret, ip: '2001:db8:abcd::1' })).status).toBe(200);
    expect((await gql(t.app, VIEWER, {}, { key: cidr.secret, ip: '2001:db9::1' })).status).toBe(403);
  });

  it('uses the real socket address, IPv4 and IPv6', async () => {
    const user = await makeUser();
    const v4only = await key(user, 'FULL', { allowedIps: ['127.0.0.1'] });
    const v6only = await key(user, 'FULL', { allowedIps: ['::1/128'] });
    const server = http.createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '::', resolve));
    const port = (server.address() as AddressInfo).port;
    const call = (host: string, secret: string) =>
      fetch(`http://${host}:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
        body: JSON.stringify({ query: VIEWER }),
      });
    expect((await call('127.0.0.1', v4only.secret)).status).toBe(200); // arrives as ::ffff:127.0.0.1
    expect((await call('[::1]', v4only.secret)).status).toBe(403);
    expect((await call('[::1]', v6only.secret)).status).toBe(200);
    expect((await call('127.0.0.1', v6only.secret)).status).toBe(403);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
});

const CREATE = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    __typename
    ... on CreateApiKeyPayload { secret apiKey { id permission workspaces { id } expiresAt createdBy { id } } }
    ... on ValidationError { field message code }
  }
}`;
const UPDATE = `mutation($input: UpdateApiKeyInput!) {
  updateApiKey(input: $input) {
    __typename
    ... on ApiKeyPayload { apiKey { scopes { resource access } } }
    ... on ValidationError { field message }
    ... on NotFoundError { message }
  }
}`;

describe('escalation is refused', () => {
  it('READ_ONLY and LIMITED keys cannot create keys (FORBIDDEN keys:write)', async () => {
    const user = await makeUser();
    for (const created of [await key(user, 'READ_ONLY'), await key(user, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'WRITE' }] })]) {
      const result = await gql(t.app, CREATE, { input: { name: 'x', permission: 'READ_ONLY' } }, { key: created.secret });
      expect(result.status).toBe(200);
      expect(result.body.data.createApiKey).toBeNull();
      expect(result.body.errors![0]!.extensions).toEqual({ code: 'FORBIDDEN', reason: 'SCOPE', requiredPermission: 'keys:write' });
      expect(result.body.errors![0]!.message).toContain('keys:write');
    }
    expect(await ApiKey.countDocuments({ userId: user._id })).toBe(2);
  });

  it('a FULL key restricted to a workspace cannot create an unrestricted key, nor one for another workspace', async () => {
    const user = await makeUser();
    const w1 = await makeWorkspace(user);
    const w2 = await makeWorkspace(user);
    const restricted = await key(user, 'FULL', { workspaces: [w1._id] });
    const open = await gql(t.app, CREATE, { input: { name: 'wide', permission: 'FULL' } }, { key: restricted.secret });
    expect(open.body.data.createApiKey).toMatchObject({ __typename: 'ValidationError', field: 'input.workspaceIds', code: 'BAD_USER_INPUT' });
    expect(open.body.data.createApiKey.message).toContain('Escalation refused');
    const other = await gql(t.app, CREATE, { input: { name: 'w2', permission: 'FULL', workspaceIds: [gid('Workspace', w2._id)] } }, { key: restricted.secret });
    expect(other.body.data.createApiKey.__typename).toBe('ValidationError');
    const ok = await gql(t.app, CREATE, { input: { name: 'w1', permission: 'READ_ONLY', workspaceIds: [gid('Workspace', w1._id)] } }, { key: restricted.secret });
    expect(ok.body.data.createApiKey.__typename).toBe('CreateApiKeyPayload');
    secrets.push(ok.body.data.createApiKey.secret);
    expect(ok.body.data.createApiKey.apiKey.workspaces).toEqual([{ id: gid('Workspace', w1._id) }]);
    expect(ok.body.data.createApiKey.apiKey.createdBy.id).toBe(restricted.globalId);
    expect(await ApiKey.countDocuments({ userId: user._id })).toBe(2);
  });

  it('a key cannot create a key that expires later than itself (or never)', async () => {
    const user = await makeUser();
    const expiring = await key(user, 'FULL', { expiresAt: new Date(Date.now() + 86_400_000) });
    const later = await gql(t.app, CREATE, { input: { name: 'later', permission: 'FULL', expiresAt: new Date(Date.now() + 2 * 86_400_000).toISOString() } }, { key: expiring.secret });
    expect(later.body.data.createApiKey).toMatchObject({ __typename: 'ValidationError', field: 'input.expiresAt' });
    const never = await gql(t.app, CREATE, { input: { name: 'never', permission: 'FULL' } }, { key: expiring.secret });
    expect(never.body.data.createApiKey).toMatchObject({ __typename: 'ValidationError', field: 'input.expiresAt' });
  });

  it('a LIMITED key cannot widen its own scopes with updateApiKey', async () => {
    const user = await makeUser();
    const limited = await key(user, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }] });
    const result = await gql(t.app, UPDATE, { input: { id: limited.globalId, scopes: [{ resource: 'LINKS', access: 'WRITE' }] } }, { key: limited.secret });
    expect(result.body.errors![0]!.extensions).toEqual({ code: 'FORBIDDEN', reason: 'SCOPE', requiredPermission: 'keys:write' });
    expect((await ApiKey.findById(limited.id).lean())!.scopes).toEqual([{ resource: 'LINKS', access: 'READ' }]);
  });

  it('a FULL key may narrow a key and may not exceed itself when updating', async () => {
    const user = await makeUser();
    const w1 = await makeWorkspace(user);
    const admin = await key(user, 'FULL', { workspaces: [w1._id] });
    const target = await key(user, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }], workspaces: [w1._id] });
    const narrow = await gql(t.app, UPDATE, { input: { id: target.globalId, scopes: [{ resource: 'ANALYTICS', access: 'READ' }] } }, { key: admin.secret });
    expect(narrow.body.data.updateApiKey.apiKey.scopes).toEqual([{ resource: 'ANALYTICS', access: 'READ' }]);
    const widen = await gql(t.app, UPDATE, { input: { id: target.globalId, workspaceIds: [] } }, { key: admin.secret });
    expect(widen.body.data.updateApiKey).toMatchObject({ __typename: 'ValidationError', field: 'input.workspaceIds' });
    const badIp = await gql(t.app, UPDATE, { input: { id: target.globalId, allowedIps: ['10.0.0.0/40'] } }, { key: admin.secret });
    expect(badIp.body.data.updateApiKey).toMatchObject({ __typename: 'ValidationError', field: 'input.allowedIps.0' });
  });
});

describe('key management', () => {
  it('READ_ONLY lists keys (metadata only) but every mutation except deactivating itself is FORBIDDEN', async () => {
    const user = await makeUser();
    const readOnly = await key(user, 'READ_ONLY');
    const other = await key(user, 'FULL');
    const list = await gql(t.app, '{ apiKeys(first: 10) { totalCount edges { node { id hint } } } }', {}, { key: readOnly.secret });
    expect(list.body.errors).toBeUndefined();
    expect(list.body.data.apiKeys.totalCount).toBe(2);
    expect(JSON.stringify(list.body)).not.toContain(other.secret);
    for (const [mutation, input] of [
      ['createApiKey', { name: 'x', permission: 'READ_ONLY' }],
      ['updateApiKey', { id: other.globalId, name: 'y' }],
      ['rotateApiKey', { id: other.globalId }],
      ['deactivateApiKey', { id: other.globalId }],
      ['deleteApiKey', { id: other.globalId }],
    ] as const) {
      const inputType = { createApiKey: 'CreateApiKeyInput', updateApiKey: 'UpdateApiKeyInput', rotateApiKey: 'RotateApiKeyInput', deactivateApiKey: 'ApiKeyIdInput', deleteApiKey: 'ApiKeyIdInput' }[mutation];
      const result = await gql(t.app, `mutation($input: ${inputType}!) { ${mutation}(input: $input) { __typename } }`, { input }, { key: readOnly.secret });
      expect(result.body.errors?.[0]?.extensions, mutation).toEqual({ code: 'FORBIDDEN', reason: 'SCOPE', requiredPermission: 'keys:write' });
    }
    const self = await gql(t.app, 'mutation($input: ApiKeyIdInput!) { deactivateApiKey(input: $input) { ... on ApiKeyPayload { apiKey { status } } } }', { input: { id: readOnly.globalId } }, { key: readOnly.secret });
    expect(self.body.data.deactivateApiKey.apiKey.status).toBe('DEACTIVATED');
  });

  it('revocation: after deactivate the very next request with that key is 401 on this instance', async () => {
    const user = await makeUser();
    const admin = await key(user);
    const victim = await key(user, 'READ_ONLY');
    expect((await gql(t.app, VIEWER, {}, { key: victim.secret })).status).toBe(200); // now cached
    const result = await gql(t.app, 'mutation($input: ApiKeyIdInput!) { deactivateApiKey(input: $input) { __typename } }', { input: { id: victim.globalId } }, { key: admin.secret });
    expect(result.body.data.deactivateApiKey.__typename).toBe('ApiKeyPayload');
    expect401(await gql(t.app, VIEWER, {}, { key: victim.secret }), /deactivated/);
  });

  it('delete: the next request is 401 and the key is gone from the list', async () => {
    const user = await makeUser();
    const admin = await key(user);
    const victim = await key(user, 'READ_ONLY');
    expect((await gql(t.app, VIEWER, {}, { key: victim.secret })).status).toBe(200);
    const result = await gql(t.app, 'mutation($input: ApiKeyIdInput!) { deleteApiKey(input: $input) { ... on DeleteApiKeyPayload { deletedId } } }', { input: { id: victim.globalId } }, { key: admin.secret });
    expect(result.body.data.deleteApiKey.deletedId).toBe(victim.globalId);
    expect401(await gql(t.app, VIEWER, {}, { key: victim.secret }), /Invalid API key/);
  });

  it("other users' keys are invisible: null, NOT_FOUND, never FORBIDDEN", async () => {
    const mine = await key(await makeUser());
    const theirs = await key(await makeUser());
    expect((await gql(t.app, 'query($id: ID!) { apiKey(id: $id) { id } }', { id: theirs.globalId }, { key: mine.secret })).body).toEqual({ data: { apiKey: null } });
    expect((await gql(t.app, 'query($id: ID!) { node(id: $id) { id } }', { id: theirs.globalId }, { key: mine.secret })).body).toEqual({ data: { node: null } });
    for (const mutation of ['deactivateApiKey', 'deleteApiKey']) {
      const result = await gql(t.app, `mutation($input: ApiKeyIdInput!) { ${mutation}(input: $input) { __typename ... on NotFoundError { code } } }`, { input: { id: theirs.globalId } }, { key: mine.secret });
      expect(result.body.data[mutation]).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    }
    expect((await ApiKey.findById(theirs.id).lean())!.status).toBe('ACTIVE');
  });

  it('createApiKey returns the secret once; it works; the stored record has only the hash and hint', async () => {
    const admin = await key(await makeUser());
    const result = await gql(t.app, CREATE, { input: { name: 'CI', permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'READ' }] } }, { key: admin.secret });
    const secret = result.body.data.createApiKey.secret as string;
    secrets.push(secret);
    expect(secret).toMatch(/^taapit_[0-9A-Za-z]{38}$/);
    const viewer = await gql(t.app, '{ viewer { key { name permission } permissions { resource access } } }', {}, { key: secret });
    expect(viewer.body.data.viewer.key).toEqual({ name: 'CI', permission: 'LIMITED' });
    expect(viewer.body.data.viewer.permissions).toContainEqual({ resource: 'LINKS', access: 'READ' });
    expect(viewer.body.data.viewer.permissions).toContainEqual({ resource: 'DOMAINS', access: 'NONE' });
  });

  it('a verified key is cached: the next request costs no key query', async () => {
    const { secret } = await key(await makeUser());
    await gql(t.app, '{ viewer { key { name } } }', {}, { key: secret });
    const { count } = await countQueries(commands, () => gql(t.app, '{ viewer { key { name } } }', {}, { key: secret }));
    expect(count).toBe(0);
  });

  it('rate limit: 429 RATE_LIMITED with Retry-After once the per-key limit is used', async () => {
    const app = createTestApp(db(), {}, { rateLimiter: new MemoryRateLimiter(() => 1_800_000_010_000) });
    const { secret } = await key(await makeUser(), 'READ_ONLY', { rateLimit: 2 });
    expect((await gql(app.app, VIEWER, {}, { key: secret })).headers.get('RateLimit-Remaining')).toBe('1');
    expect((await gql(app.app, VIEWER, {}, { key: secret })).headers.get('RateLimit-Remaining')).toBe('0');
    const limited = await gql(app.app, VIEWER, {}, { key: secret });
    await app.close();
    expect(limited.status).toBe(429);
    expect(limited.body.data).toBeUndefined();
    expect(limited.body.errors![0]!.extensions).toEqual({ code: 'RATE_LIMITED' });
    expect(Number(limited.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(limited.headers.get('X-RateLimit-Limit')).toBe('2');
  });
});

describe('usage is recorded in batches', () => {
  it('advances lastUsedAt and usageCount after a flush, not per request', async () => {
    const app = createTestApp(db());
    const created = await key(await makeUser());
    for (let i = 0; i < 3; i++) await gql(app.app, VIEWER, {}, { key: created.secret, ip: '198.51.100.4' });
    expect((await ApiKey.findById(created.id).lean())!.usageCount).toBe(0);
    await app.close();
    const doc = (await ApiKey.findById(created.id).lean())!;
    expect(doc.usageCount).toBe(3);
    expect(doc.lastUsedAt).toBeInstanceOf(Date);
    expect(doc.lastUsedIp).toBe('198.51.100.4');
  });

  it('the periodic flush writes without being asked', async () => {
    const app = createTestApp(db(), { USAGE_FLUSH_MS: '50' });
    const created = await key(await makeUser());
    await gql(app.app, VIEWER, {}, { key: created.secret });
    await waitFor(async () => ((await ApiKey.findById(created.id).lean())!.usageCount === 1 ? true : undefined), 5000, 'usage flush');
    await app.close();
  });

  it('shutdown flushes what is pending', async () => {
    const app = createTestApp(db());
    const created = await key(await makeUser());
    await gql(app.app, VIEWER, {}, { key: created.secret });
    await app.close();
    expect((await ApiKey.findById(created.id).lean())!.usageCount).toBe(1);
  });
});

describe('a real GraphQL client over a real socket', () => {
  it('graphql-request validates a key, creates one and gets typed errors', async () => {
    const socket = await listenOnSocket(t.app);
    const user = await makeUser();
    const admin = await key(user);
    const client = new GraphQLClient(`${socket.url}/graphql`, { headers: { authorization: `Bearer ${admin.secret}` } });
    const viewer = await client.request<{ viewer: { user: { email: string } } }>(VIEWER);
    expect(viewer.viewer.user.email).toBe(user.email);
    const created = await client.request<{ createApiKey: { secret: string } }>(CREATE, { input: { name: 'via client', permission: 'READ_ONLY' } });
    secrets.push(created.createApiKey.secret);
    const anonymous = new GraphQLClient(`${socket.url}/graphql`);
    const failure = await anonymous.request(VIEWER).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ClientError);
    expect((failure as ClientError).response.status).toBe(401);
    await socket.close();
  });
});

describe('secrets at rest and in logs', () => {
  it('no plaintext secret appears in any collection or in the logs of this file', async () => {
    expect(secrets.length).toBeGreaterThan(10);
    const collections = await mongoose.connection.db!.listCollections().toArray();
    let scanned = 0;
    for (const { name } of collections) {
      const docs = await mongoose.connection.db!.collection(name).find().toArray();
      scanned += docs.length;
      const text = JSON.stringify(docs);
      for (const secret of secrets) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(secret.slice(7, 39)); // the random part alone
      }
    }
    expect(scanned).toBeGreaterThan(0);
    for (const secret of secrets) expect(t.logs.text).not.toContain(secret.slice(7));
    expect(await ApiKey.countDocuments({ secretHash: { $exists: true } })).toBeGreaterThan(0);
    // The secret documents (scanned above with every collection) are keyed by the HMAC too.
    expect(await ApiKeySecret.countDocuments()).toBeGreaterThan(0);
  });
});

describe('several instances on one database', () => {
  it('a key deactivated on instance A is refused by instance B within KEY_CACHE_TTL_MS', async () => {
    const a = createTestApp(db(), { KEY_CACHE_TTL_MS: '300' });
    const b = createTestApp(db(), { KEY_CACHE_TTL_MS: '300' });
    const user = await makeUser();
    const admin = await key(user);
    const victim = await key(user, 'READ_ONLY');
    expect((await gql(b.app, VIEWER, {}, { key: victim.secret })).status).toBe(200); // cached on B
    await gql(a.app, 'mutation($input: ApiKeyIdInput!) { deactivateApiKey(input: $input) { __typename } }', { input: { id: victim.globalId } }, { key: admin.secret });
    expect((await gql(a.app, VIEWER, {}, { key: victim.secret })).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await gql(b.app, VIEWER, {}, { key: victim.secret })).status).toBe(401);
    await a.close();
    await b.close();
  });

  it('RATE_LIMIT_STORE=mongo shares one limit between instances', async () => {
    // A fixed clock inside one window, so the test cannot straddle a minute boundary.
    const clock = () => 1_800_000_010_000;
    const a = createTestApp(db(), {}, { rateLimiter: new MongoRateLimiter(clock) });
    const b = createTestApp(db(), {}, { rateLimiter: new MongoRateLimiter(clock) });
    const { secret } = await key(await makeUser(), 'READ_ONLY', { rateLimit: 3 });
    const statuses = [];
    for (const app of [a, b, a, b]) statuses.push((await gql(app.app, VIEWER, {}, { key: secret })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    await a.close();
    await b.close();
  });
});
