import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey } from '../src/models/api-key.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

// A key's restrictions only ever narrow: through createApiKey, updateApiKey (itself included)
// and rotateApiKey, on every axis, seen from the outside through the GraphQL API.

const { db } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  t = createTestApp(db(), { RATE_LIMIT_PER_MINUTE: '600' });
});
afterAll(() => t.close());

const CREATE = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    __typename
    ... on CreateApiKeyPayload { apiKey { id allowedIps rateLimit } }
    ... on ValidationError { field message code }
  }
}`;
const UPDATE = `mutation($input: UpdateApiKeyInput!) {
  updateApiKey(input: $input) {
    __typename
    ... on ApiKeyPayload { apiKey { id allowedIps rateLimit expiresAt } }
    ... on ValidationError { field message code }
    ... on NotFoundError { message code }
  }
}`;
const ROTATE = `mutation($input: RotateApiKeyInput!) {
  rotateApiKey(input: $input) {
    __typename
    ... on CreateApiKeyPayload { apiKey { id } }
    ... on ValidationError { field message code }
    ... on NotFoundError { message code }
  }
}`;

const LINKS_READ = { permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'READ' }] };

async function create(secret: string, input: Record<string, unknown>, ip = '127.0.0.1') {
  const result = await gql(t.app, CREATE, { input: { name: 'child', ...LINKS_READ, ...input } }, { key: secret, ip });
  expect(result.status).toBe(200);
  return result.body.data.createApiKey;
}

async function update(secret: string, input: Record<string, unknown>, ip = '127.0.0.1') {
  const result = await gql(t.app, UPDATE, { input }, { key: secret, ip });
  expect(result.status).toBe(200);
  return result.body.data.updateApiKey;
}

describe('allowedIps only narrow', () => {
  const IP = '10.1.2.3';

  it('a key with allowedIps cannot mint a key without any (= any address)', async () => {
    const user = await makeUser();
    const parent = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/8'] });
    const child = await create(parent.secret, {}, IP);
    expect(child).toMatchObject({ __typename: 'ValidationError', field: 'input.allowedIps', code: 'BAD_USER_INPUT' });
    expect(child.message).toContain('Escalation refused');
    expect(child.message).toContain('10.0.0.0/8');
    expect(await ApiKey.countDocuments({ userId: user._id })).toBe(1);
  });

  it('a key cannot mint a key with a wider CIDR, nor one partly outside', async () => {
    const user = await makeUser();
    const parent = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/8'] });
    for (const allowedIps of [['10.0.0.0/7'], ['0.0.0.0/0'], ['10.1.0.0/16', '192.168.1.1'], ['::/0']]) {
      const child = await create(parent.secret, { allowedIps }, IP);
      expect(child, allowedIps.join()).toMatchObject({ __typename: 'ValidationError', field: 'input.allowedIps' });
      expect(child.message).toMatch(/must lie inside this key's allowedIps \(10\.0\.0\.0\/8\)/);
    }
    expect(await ApiKey.countDocuments({ userId: user._id })).toBe(1);
  });

  it('a key may mint a key with contained CIDRs and addresses (IPv4-mapped IPv6 included)', async () => {
    const user = await makeUser();
    const parent = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/8', '192.168.0.0/24'] });
    const allowedIps = ['10.1.0.0/16', '192.168.0.7', '10.0.0.0/8', '::ffff:10.9.0.0/112'];
    const child = await create(parent.secret, { allowedIps }, IP);
    expect(child).toMatchObject({ __typename: 'CreateApiKeyPayload', apiKey: { allowedIps } });
    const outside = await create(parent.secret, { allowedIps: ['::ffff:11.0.0.0/104'] }, IP);
    expect(outside).toMatchObject({ __typename: 'ValidationError', field: 'input.allowedIps' });
  });

  it('IPv6: inside a /32 is allowed; another /32 or any IPv4 range is not', async () => {
    const user = await makeUser();
    const parent = await makeKey(user, 'FULL', { allowedIps: ['2001:db8::/32'] });
    const ip = '2001:db8::1';
    expect(await create(parent.secret, { allowedIps: ['2001:db8:1::/48', '2001:db8::5'] }, ip)).toMatchObject({ __typename: 'CreateApiKeyPayload' });
    for (const allowedIps of [['2001:db9::/32'], ['2001:db8::/31'], ['10.0.0.0/8'], []]) {
      const child = await create(parent.secret, { allowedIps }, ip);
      expect(child, allowedIps.join()).toMatchObject({ __typename: 'ValidationError', field: 'input.allowedIps' });
    }
  });

  it('a key cannot clear (or widen) its own allowedIps with updateApiKey', async () => {
    const user = await makeUser();
    const self = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/8'] });
    for (const allowedIps of [[], ['0.0.0.0/0'], ['10.0.0.0/8', '172.16.0.0/12']]) {
      const result = await update(self.secret, { id: self.globalId, allowedIps }, IP);
      expect(result, allowedIps.join()).toMatchObject({ __typename: 'ValidationError', field: 'input.allowedIps' });
    }
    expect((await ApiKey.findById(self.id).lean())!.allowedIps).toEqual(['10.0.0.0/8']);
    const narrowed = await update(self.secret, { id: self.globalId, allowedIps: ['10.1.0.0/16'] }, IP);
    expect(narrowed).toMatchObject({ __typename: 'ApiKeyPayload', apiKey: { allowedIps: ['10.1.0.0/16'] } });
  });

  it('a key without allowedIps may set or clear them on others', async () => {
    const user = await makeUser();
    const admin = await makeKey(user);
    const target = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/8'] });
    expect(await update(admin.secret, { id: target.globalId, allowedIps: [] })).toMatchObject({ apiKey: { allowedIps: [] } });
    expect(await create(admin.secret, { allowedIps: ['0.0.0.0/0', '::/0'] })).toMatchObject({ __typename: 'CreateApiKeyPayload' });
  });
});

describe('rateLimit only narrows', () => {
  it('a key with a rateLimit cannot mint a key without one (the server default)', async () => {
    const user = await makeUser();
    const parent = await makeKey(user, 'FULL', { rateLimit: 100 });
    const child = await create(parent.secret, {});
    expect(child).toMatchObject({ __typename: 'ValidationError', field: 'input.rateLimit', code: 'BAD_USER_INPUT' });
    expect(child.message).toContain('100');
    expect(await create(parent.secret, { rateLimit: 101 })).toMatchObject({ __typename: 'ValidationError', field: 'input.rateLimit' });
    expect(await create(parent.secret, { rateLimit: 100 })).toMatchObject({ __typename: 'CreateApiKeyPayload', apiKey: { rateLimit: 100 } });
  });

  it('a key cannot raise its own rateLimit nor return it to the default, but may lower it', async () => {
    const user = await makeUser();
    const self = await makeKey(user, 'FULL', { rateLimit: 100 });
    for (const rateLimit of [1_000_000, 101, null]) {
      const result = await update(self.secret, { id: self.globalId, rateLimit });
      expect(result, String(rateLimit)).toMatchObject({ __typename: 'ValidationError', field: 'input.rateLimit' });
    }
    expect((await ApiKey.findById(self.id).lean())!.rateLimit).toBe(100);
    expect(await update(self.secret, { id: self.globalId, rateLimit: 50 })).toMatchObject({ __typename: 'ApiKeyPayload', apiKey: { rateLimit: 50 } });
  });

  it('a key on the server default is bounded by that default', async () => {
    const user = await makeUser();
    const parent = await makeKey(user);
    const over = await create(parent.secret, { rateLimit: 601 });
    expect(over).toMatchObject({ __typename: 'ValidationError', field: 'input.rateLimit' });
    expect(over.message).toContain('600');
    expect(await create(parent.secret, { rateLimit: 600 })).toMatchObject({ __typename: 'CreateApiKeyPayload' });
    expect(await create(parent.secret, {})).toMatchObject({ __typename: 'CreateApiKeyPayload', apiKey: { rateLimit: null } });
  });
});

describe('expiry stays bounded', () => {
  it('a key cannot push back or remove its own expiry', async () => {
    const user = await makeUser();
    const expiresAt = new Date(Date.now() + 86_400_000);
    const self = await makeKey(user, 'FULL', { expiresAt });
    for (const later of [new Date(expiresAt.getTime() + 1000).toISOString(), null]) {
      expect(await update(self.secret, { id: self.globalId, expiresAt: later })).toMatchObject({ __typename: 'ValidationError', field: 'input.expiresAt' });
    }
    expect(await create(self.secret, {})).toMatchObject({ __typename: 'ValidationError', field: 'input.expiresAt' });
    const sooner = new Date(expiresAt.getTime() - 1000).toISOString();
    expect(await update(self.secret, { id: self.globalId, expiresAt: sooner })).toMatchObject({ __typename: 'ApiKeyPayload', apiKey: { expiresAt: sooner } });
  });
});

describe('rotation hands over a secret only for keys no wider than the caller', () => {
  it('refuses to rotate a key wider on allowedIps or rateLimit; rotates itself and narrower keys', async () => {
    const user = await makeUser();
    const caller = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/8'], rateLimit: 100 });
    const anyIp = await makeKey(user, 'FULL', { rateLimit: 100 });
    const widerIp = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/7'], rateLimit: 100 });
    const faster = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/8'], rateLimit: 101 });
    const defaultRate = await makeKey(user, 'FULL', { allowedIps: ['10.0.0.0/8'] });
    const narrower = await makeKey(user, 'READ_ONLY', { allowedIps: ['10.2.0.0/16'], rateLimit: 10 });
    const rotate = async (id: string) => (await gql(t.app, ROTATE, { input: { id } }, { key: caller.secret, ip: '10.0.0.1' })).body.data.rotateApiKey;
    for (const [target, field] of [[anyIp, 'input.allowedIps'], [widerIp, 'input.allowedIps'], [faster, 'input.rateLimit'], [defaultRate, 'input.rateLimit']] as const) {
      expect(await rotate(target.globalId), field).toMatchObject({ __typename: 'ValidationError', field });
      const stored = await ApiKey.findById(target.id).lean();
      expect(stored!.previousSecretHash ?? null).toBeNull();
    }
    expect(await rotate(narrower.globalId)).toMatchObject({ __typename: 'CreateApiKeyPayload' });
    expect(await rotate(caller.globalId)).toMatchObject({ __typename: 'CreateApiKeyPayload' });
  });
});

describe('a workspace outside the key’s restriction answers like one that does not exist', () => {
  it('createApiKey and updateApiKey: the user’s own workspace B and a nonexistent id give the same error', async () => {
    const user = await makeUser();
    const a = await makeWorkspace(user, 'A');
    const b = await makeWorkspace(user, 'B');
    const restricted = await makeKey(user, 'FULL', { workspaces: [a._id] });
    const target = await makeKey(user, 'READ_ONLY', { workspaces: [a._id] });
    const ghost = gid('Workspace', new Types.ObjectId());
    const inB = [gid('Workspace', a._id), gid('Workspace', b._id)];
    const inGhost = [gid('Workspace', a._id), ghost];

    const createB = await create(restricted.secret, { workspaceIds: inB });
    const createGhost = await create(restricted.secret, { workspaceIds: inGhost });
    expect(createB.__typename).toBe('ValidationError');
    expect(createB).toEqual(createGhost);

    const updateB = await update(restricted.secret, { id: target.globalId, workspaceIds: inB });
    const updateGhost = await update(restricted.secret, { id: target.globalId, workspaceIds: inGhost });
    expect(updateB.__typename).toBe('ValidationError');
    expect(updateB).toEqual(updateGhost);
    expect(updateB).toEqual(createB);
    expect((await ApiKey.findById(target.id).lean())!.workspaces.map(String)).toEqual([String(a._id)]);
  });

  it('updating or rotating a key restricted to B looks like one restricted to a deleted workspace', async () => {
    const user = await makeUser();
    const a = await makeWorkspace(user, 'A');
    const b = await makeWorkspace(user, 'B');
    const restricted = await makeKey(user, 'FULL', { workspaces: [a._id] });
    const inB = await makeKey(user, 'READ_ONLY', { workspaces: [b._id] });
    const inGhost = await makeKey(user, 'READ_ONLY', { workspaces: [new Types.ObjectId()] });

    const renameB = await update(restricted.secret, { id: inB.globalId, name: 'x' });
    const renameGhost = await update(restricted.secret, { id: inGhost.globalId, name: 'x' });
    expect(renameB.__typename).toBe('ValidationError');
    expect(renameB).toEqual(renameGhost);

    const rotate = async (id: string) => (await gql(t.app, ROTATE, { input: { id } }, { key: restricted.secret })).body.data.rotateApiKey;
    const rotateB = await rotate(inB.globalId);
    expect(rotateB.__typename).toBe('ValidationError');
    expect(rotateB).toEqual(await rotate(inGhost.globalId));
  });
});
