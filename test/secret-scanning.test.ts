import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.ts';
import { generateApiKey } from '../src/rules/keys.ts';
import { parseMatches, parseSigningKeys, tokenHash } from '../src/rules/secret-scanning.ts';
import { createTestApp, gql, makeKey, makeUser, testConfig, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();

/** A signing key pair like GitHub's, and the published-keys document naming it. */
function githubKeys(identifier: string): { privateKey: KeyObject; document: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey, document: JSON.stringify({ public_keys: [{ key_identifier: identifier, key: pem, is_current: true }] }) };
}

const github = githubKeys('github-key-1');
const stranger = githubKeys('github-key-1');
const dir = mkdtempSync(path.join(tmpdir(), 'secret-scanning-'));
const keysFile = path.join(dir, 'keys.json');
writeFileSync(keysFile, github.document);

let t: TestApp;
let off: TestApp;
beforeAll(() => {
  t = createTestApp(db(), { SECRET_SCANNING_PUBLIC_KEYS: keysFile });
  off = createTestApp(db());
});
afterAll(async () => {
  await t.close();
  await off.close();
});

interface Report {
  body?: string;
  identifier?: string | null;
  signer?: KeyObject;
  signature?: string;
  method?: string;
}

async function report(app: TestApp, matches: unknown, options: Report = {}): Promise<Response> {
  const body = options.body ?? JSON.stringify(matches);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const identifier = options.identifier === undefined ? 'github-key-1' : options.identifier;
  if (identifier !== null) headers['github-public-key-identifier'] = identifier;
  headers['github-public-key-signature'] = options.signature ?? sign('sha256', Buffer.from(body), options.signer ?? github.privateKey).toString('base64');
  const method = options.method ?? 'POST';
  return app.app.fetch(
    new Request('http://tpt.test/secret-scanning/github', { method, headers, body: method === 'POST' ? body : undefined }),
    { clientIp: '192.0.2.10' },
  );
}

const match = (token: string) => ({ token, type: 'taapit_api_key', url: 'https://github.com/acme/app/blob/main/.env', source: 'content' });
const viewer = (key: string) => gql(t.app, '{ viewer { user { email } } }', {}, { key });
const keyState = async (owner: string, id: string) =>
  (await gql(t.app, 'query($id: ID!) { apiKey(id: $id) { status deactivationReason deactivatedAt } }', { id }, { key: owner })).body.data?.apiKey;

describe('POST /secret-scanning/github', () => {
  it('deactivates a reported key at once with reason LEAKED, and answers GitHub feedback per token', async () => {
    const user = await makeUser('leaky');
    const owner = await makeKey(user);
    const leaked = await makeKey(user);
    expect((await viewer(leaked.secret)).status).toBe(200);
    const unknown = generateApiKey();

    const response = await report(t, [match(leaked.secret), match(unknown), match('not-a-key')]);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([
      { token_hash: tokenHash(leaked.secret), token_type: 'taapit_api_key', label: 'true_positive' },
      { token_hash: tokenHash(unknown), token_type: 'taapit_api_key', label: 'false_positive' },
      { token_hash: tokenHash('not-a-key'), token_type: 'taapit_api_key', label: 'false_positive' },
    ]);

    // Refused at once, although it was in the key cache a moment ago.
    const refused = await viewer(leaked.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.errors?.[0]?.message).toMatch(/deactivated/);
    const state = await keyState(owner.secret, leaked.globalId);
    expect(state).toMatchObject({ status: 'DEACTIVATED', deactivationReason: 'LEAKED' });
    // The other key of the same user is untouched.
    expect((await viewer(owner.secret)).status).toBe(200);
    // Never the token in the logs.
    expect(t.logs.text).not.toContain(leaked.secret);
    expect(t.logs.text).toContain('leaked API key deactivated');

    // A second report of the same token: still ours, nothing moves.
    const again = await report(t, [match(leaked.secret)]);
    expect((await again.json())[0].label).toBe('true_positive');
    expect((await keyState(owner.secret, leaked.globalId)).deactivatedAt).toBe(state.deactivatedAt);
  });

  it("a leaked previous secret ends its rotation grace period; the new secret keeps working", async () => {
    const user = await makeUser('rotator');
    const key = await makeKey(user);
    const rotated = await gql(
      t.app,
      'mutation($id: ID!) { rotateApiKey(input: { id: $id, gracePeriodSeconds: 3600 }) { ... on CreateApiKeyPayload { secret } } }',
      { id: key.globalId },
      { key: key.secret },
    );
    const newSecret = rotated.body.data.rotateApiKey.secret as string;
    expect((await viewer(key.secret)).status).toBe(200);

    const response = await report(t, [match(key.secret)]);
    expect((await response.json())[0].label).toBe('true_positive');
    expect((await viewer(key.secret)).status).toBe(401);
    expect((await viewer(newSecret)).status).toBe(200);
    expect(await keyState(newSecret, key.globalId)).toMatchObject({ status: 'ACTIVE', deactivationReason: null });
  });

  it('refuses reports that GitHub did not sign, changing nothing', async () => {
    const user = await makeUser('victim');
    const key = await makeKey(user);
    const refusals = [
      await report(t, [match(key.secret)], { signer: stranger.privateKey }),
      await report(t, [match(key.secret)], { identifier: 'some-other-key' }),
      await report(t, [match(key.secret)], { identifier: null }),
      await report(t, [match(key.secret)], { signature: 'bm90IGEgc2lnbmF0dXJl' }),
      // Signed, then the body changed.
      await report(t, [match(key.secret)], { signature: sign('sha256', Buffer.from('[]'), github.privateKey).toString('base64') }),
    ];
    for (const response of refusals) {
      expect(response.status).toBe(401);
      expect((await response.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
    expect((await viewer(key.secret)).status).toBe(200);
  });

  it('answers clear errors for a malformed report, the wrong method, and when not configured', async () => {
    const notJson = await report(t, null, { body: '{"token":' });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).errors[0].message).toMatch(/not JSON/);
    const notArray = await report(t, { token: 'x' });
    expect(notArray.status).toBe(400);
    const tooMany = await report(t, Array.from({ length: 1001 }, () => match('taapit_x')));
    expect(tooMany.status).toBe(400);
    expect((await tooMany.json()).errors[0].message).toMatch(/At most 1000/);

    const get = await report(t, [], { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');

    const disabled = await report(off, [match(generateApiKey())]);
    expect(disabled.status).toBe(404);
    expect((await disabled.json()).errors[0].message).toMatch(/SECRET_SCANNING_PUBLIC_KEYS/);
  });

  it('is limited per address like any anonymous request, before the signature is checked', async () => {
    const limited = createTestApp(db(), { SECRET_SCANNING_PUBLIC_KEYS: keysFile, ANONYMOUS_RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await report(limited, [], { signer: stranger.privateKey })).status);
      expect(statuses).toEqual([401, 401, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('secret-scanning parsing', () => {
  it('start-up refuses a keys file that is missing or not GitHub keys, in one line', () => {
    expect(() => testConfig({ SECRET_SCANNING_PUBLIC_KEYS: path.join(dir, 'missing.json') })).toThrow(ConfigError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => parseSigningKeys(JSON.stringify({ public_keys: [{ key_identifier: 'a', key: rsa }] }))).toThrow(/P-256/);
    expect(() => parseSigningKeys('{}')).toThrow(/public_keys/);
    expect(() => parseSigningKeys('nope')).toThrow(/not JSON/);
  });

  it('parseMatches never throws: any body is matches or a message', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.array(fc.record({ token: fc.string(), type: fc.option(fc.string()) }))), (input) => {
        const text = typeof input === 'string' ? input : JSON.stringify(input);
        const parsed = parseMatches(Buffer.from(text));
        expect(typeof parsed === 'string' || Array.isArray(parsed)).toBe(true);
      }),
    );
  });
});
