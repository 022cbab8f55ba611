import pino from 'pino';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateKeySecrets } from '../src/db/migrations.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { ApiKeySecret } from '../src/models/api-key-secret.ts';
import { generateApiKey, hashApiKey, keyHint } from '../src/rules/keys.ts';
import { commandsDuring, createTestApp, gql, LogCapture, makeKey, makeUser, TEST_PEPPER, useTestDatabase, type TestApp } from './helpers.ts';

// Verifying a key reads by primary key only: the secret document (`_id` = HMAC of the secret),
// then the key by id. On FerretDB any other filter scans the collection.

const { db, started } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  // No cache: every verification goes to the database.
  t = createTestApp(db(), { KEY_CACHE_TTL_MS: '0' });
});
afterAll(() => t.close());

/** The data commands `run` sends, with their bodies. */
const commandsOf = (run: () => Promise<unknown>) => commandsDuring(started, run);

const authenticate = (secret: string) => t.services.authenticator.authenticate(`Bearer ${secret}`, '127.0.0.1');
const hash = (secret: string) => hashApiKey(secret, TEST_PEPPER);

const ROTATE = 'mutation($input: RotateApiKeyInput!) { rotateApiKey(input: $input) { __typename ... on CreateApiKeyPayload { secret } } }';

describe('a cold verification is primary-key reads only', () => {
  it('a known key: three finds (the secret, the key, its user), each with a filter of exactly { _id }', async () => {
    for (let i = 0; i < 5; i++) await makeKey(await makeUser()); // other keys in the collection
    const owner = await makeUser();
    const { secret, id } = await makeKey(owner);
    let outcome: Awaited<ReturnType<typeof authenticate>> | undefined;
    const commands = await commandsOf(async () => (outcome = await authenticate(secret)));
    expect(outcome).toMatchObject({ kind: 'key', key: { id } });
    expect(commands.length).toBeLessThanOrEqual(3);
    for (const { commandName, command } of commands) {
      expect(commandName).toBe('find');
      expect(Object.keys(command.filter)).toEqual(['_id']);
      expect(typeof command.filter._id === 'string' || command.filter._id instanceof Types.ObjectId).toBe(true);
    }
    expect(commands.map((c) => String(c.command.filter._id))).toEqual([hash(secret), id, String(owner._id)]);
  });

  it('an unknown key with a valid checksum: one find by { _id }', async () => {
    const unknown = generateApiKey();
    let outcome: Awaited<ReturnType<typeof authenticate>> | undefined;
    const commands = await commandsOf(async () => (outcome = await authenticate(unknown)));
    expect(outcome).toMatchObject({ kind: 'failure', failure: { status: 401, message: expect.stringMatching(/no such key exists/) } });
    expect(commands).toHaveLength(1);
    expect(commands[0]!.commandName).toBe('find');
    expect(commands[0]!.command.filter).toEqual({ _id: hash(unknown) });
  });

  it('an unknown key is cached as unknown: a second attempt costs no command', async () => {
    const cached = createTestApp(db(), { KEY_CACHE_TTL_MS: '60000' });
    const unknown = `Bearer ${generateApiKey()}`;
    await cached.services.authenticator.authenticate(unknown, '127.0.0.1');
    const commands = await commandsOf(() => cached.services.authenticator.authenticate(unknown, '127.0.0.1'));
    expect(commands).toHaveLength(0);
    await cached.close();
  });
});

describe('secret documents follow the key', () => {
  it('create writes one secret document pointing at the key, without the plaintext', async () => {
    const { secret, id } = await makeKey(await makeUser());
    const docs = await ApiKeySecret.find({ keyId: id }).lean();
    expect(docs).toEqual([expect.objectContaining({ _id: hash(secret), kind: 'current' })]);
    expect(JSON.stringify(docs)).not.toContain(secret.slice(7));
  });

  it('rotation without grace: the old secret is told "rotated", the one before it is forgotten', async () => {
    const user = await makeUser();
    const admin = await makeKey(user);
    const target = await makeKey(user, 'READ_ONLY');
    const first = (await gql(t.app, ROTATE, { input: { id: target.globalId } }, { key: admin.secret })).body.data.rotateApiKey.secret as string;
    expect(await authenticate(target.secret)).toMatchObject({ kind: 'failure', failure: { message: expect.stringMatching(/rotated/) } });
    expect(await authenticate(first)).toMatchObject({ kind: 'key', key: { id: target.id } });
    const kinds = async () => Object.fromEntries((await ApiKeySecret.find({ keyId: target.id }).lean()).map((d) => [d._id, d.kind]));
    expect(await kinds()).toEqual({ [hash(target.secret)]: 'previous', [hash(first)]: 'current' });

    const second = (await gql(t.app, ROTATE, { input: { id: target.globalId } }, { key: admin.secret })).body.data.rotateApiKey.secret as string;
    expect(await kinds()).toEqual({ [hash(first)]: 'previous', [hash(second)]: 'current' });
    expect(await authenticate(first)).toMatchObject({ kind: 'failure', failure: { message: expect.stringMatching(/rotated/) } });
    expect(await authenticate(target.secret)).toMatchObject({ kind: 'failure', failure: { message: expect.stringMatching(/no such key/) } });
    expect(await authenticate(second)).toMatchObject({ kind: 'key' });
  });

  it('rotation with grace: both secrets work until the key says the grace is over', async () => {
    const user = await makeUser();
    const admin = await makeKey(user);
    const target = await makeKey(user, 'READ_ONLY');
    const next = (await gql(t.app, ROTATE, { input: { id: target.globalId, gracePeriodSeconds: 60 } }, { key: admin.secret })).body.data.rotateApiKey.secret as string;
    expect(await authenticate(target.secret)).toMatchObject({ kind: 'key' });
    expect(await authenticate(next)).toMatchObject({ kind: 'key' });
    await ApiKey.updateOne({ _id: target.id }, { previousSecretExpiresAt: new Date(Date.now() - 1) });
    expect(await authenticate(target.secret)).toMatchObject({ kind: 'failure', failure: { message: expect.stringMatching(/grace period is over/) } });
  });

  it('deactivation is read from the key (its secret documents stay, so the answer says why)', async () => {
    const user = await makeUser();
    const admin = await makeKey(user);
    const victim = await makeKey(user, 'READ_ONLY');
    await gql(t.app, 'mutation($input: ApiKeyIdInput!) { deactivateApiKey(input: $input) { __typename } }', { input: { id: victim.globalId } }, { key: admin.secret });
    expect(await authenticate(victim.secret)).toMatchObject({ kind: 'failure', failure: { message: expect.stringMatching(/deactivated/) } });
    expect(await ApiKeySecret.countDocuments({ keyId: victim.id })).toBe(1);
  });

  it('delete removes the secret documents of both secrets', async () => {
    const user = await makeUser();
    const admin = await makeKey(user);
    const victim = await makeKey(user, 'READ_ONLY');
    const next = (await gql(t.app, ROTATE, { input: { id: victim.globalId, gracePeriodSeconds: 60 } }, { key: admin.secret })).body.data.rotateApiKey.secret as string;
    expect(await ApiKeySecret.countDocuments({ keyId: victim.id })).toBe(2);
    const deleted = await gql(t.app, 'mutation($input: ApiKeyIdInput!) { deleteApiKey(input: $input) { __typename } }', { input: { id: victim.globalId } }, { key: admin.secret });
    expect(deleted.body.data.deleteApiKey.__typename).not.toMatch(/Error/);
    expect(await ApiKeySecret.countDocuments({ keyId: victim.id })).toBe(0);
    for (const secret of [victim.secret, next]) {
      expect(await authenticate(secret)).toMatchObject({ kind: 'failure', failure: { message: expect.stringMatching(/no such key/) } });
    }
  });

  it('a secret document alone lets nothing in: one pointing at no key, or at a key that no longer has that secret', async () => {
    // What a crash between the two writes of a create leaves behind.
    const orphan = generateApiKey();
    await ApiKeySecret.create({ _id: hash(orphan), keyId: new Types.ObjectId(), kind: 'current' });
    expect(await authenticate(orphan)).toMatchObject({ kind: 'failure', failure: { message: expect.stringMatching(/no such key/) } });
    // A document naming a real key the secret does not belong to (forged or stale).
    const { id } = await makeKey(await makeUser());
    const stray = generateApiKey();
    await ApiKeySecret.create({ _id: hash(stray), keyId: new Types.ObjectId(id), kind: 'current' });
    expect(await authenticate(stray)).toMatchObject({ kind: 'failure', failure: { status: 401 } });
  });
});

describe('migration of keys stored before secret documents', () => {
  it('creates the missing documents, twice without harm, and the old keys authenticate', async () => {
    const user = await makeUser();
    const plain = generateApiKey();
    const rotatedOld = generateApiKey();
    const rotatedNew = generateApiKey();
    const base = { userId: user._id, name: 'old', permission: 'FULL', scopes: [], workspaces: [], allowedIps: [], status: 'ACTIVE', usageCount: 0, createdVia: 'CLI', createdAt: new Date(), updatedAt: new Date() };
    // The old way: the key record only, written straight to the collection.
    const { insertedId: plainId } = await ApiKey.collection.insertOne({ ...base, secretHash: hash(plain), hint: keyHint(plain) });
    const { insertedId: rotatedId } = await ApiKey.collection.insertOne({
      ...base,
      secretHash: hash(rotatedNew),
      hint: keyHint(rotatedNew),
      previousSecretHash: hash(rotatedOld),
      previousSecretExpiresAt: new Date(Date.now() + 60_000),
    });
    expect(await authenticate(plain)).toMatchObject({ kind: 'failure', failure: { message: expect.stringMatching(/no such key/) } });

    const logs = new LogCapture();
    const logger = pino({ level: 'info' }, logs);
    const total = await ApiKeySecret.estimatedDocumentCount();
    expect(await migrateKeySecrets(logger, { force: true })).toBe(3);
    expect(logs.text).toContain('"secretDocuments":3');
    expect(await ApiKeySecret.estimatedDocumentCount()).toBe(total + 3);
    // Again, as after a crash before the run was recorded: nothing new, nothing overwritten.
    expect(await migrateKeySecrets(logger, { force: true })).toBe(0);
    expect(await ApiKeySecret.estimatedDocumentCount()).toBe(total + 3);
    // Recorded as done: a plain run (every start) does nothing.
    expect(await migrateKeySecrets(logger)).toBe(0);

    expect(await authenticate(plain)).toMatchObject({ kind: 'key', key: { id: String(plainId) } });
    expect(await authenticate(rotatedNew)).toMatchObject({ kind: 'key', key: { id: String(rotatedId) } });
    expect(await authenticate(rotatedOld)).toMatchObject({ kind: 'key', key: { id: String(rotatedId) } });
    expect(await ApiKeySecret.findById(hash(rotatedOld)).lean()).toMatchObject({ kind: 'previous' });
    const viewer = await gql(t.app, '{ viewer { key { name } } }', {}, { key: plain });
    expect(viewer.body.data.viewer.key.name).toBe('old');
  });
});
