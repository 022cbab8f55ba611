import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GraphQLClient } from 'graphql-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, gid, listenOnSocket, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

// The key features as a client sees them: graphql-request over a real socket, one story from a
// dry run to a leak report. Each feature has its own detailed test file; this one proves the
// names work end to end over HTTP.

const { db } = useTestDatabase();
const github = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const dir = mkdtempSync(path.join(tmpdir(), 'key-features-'));
const keysFile = path.join(dir, 'github-keys.json');
writeFileSync(
  keysFile,
  JSON.stringify({ public_keys: [{ key_identifier: 'k1', key: github.publicKey.export({ type: 'spki', format: 'pem' }).toString(), is_current: true }] }),
);

let t: TestApp;
let server: { url: string; close(): Promise<void> };
beforeAll(async () => {
  t = createTestApp(db(), { SECRET_SCANNING_PUBLIC_KEYS: keysFile });
  server = await listenOnSocket(t.app);
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const client = (key: string) => new GraphQLClient(`${server.url}/graphql`, { headers: { authorization: `Bearer ${key}` }, errorPolicy: 'all' });

describe('the key features over HTTP with graphql-request', () => {
  it('authorize, restrictions, cost, policy, usage, audit, trusted documents and a leak report', async () => {
    const owner = await makeUser('owner');
    const workspace = await makeWorkspace(owner, 'acme');
    const workspaceId = gid('Workspace', workspace._id);
    const admin = await makeKey(owner, 'FULL', { expiresAt: new Date(Date.now() + 30 * 86_400_000) });
    const readOnly = await makeKey(owner, 'READ_ONLY');
    const api = client(admin.secret);

    // 1. Dry run: a READ_ONLY key may not create links; nothing runs.
    const dry = await client(readOnly.secret).rawRequest<any>(
      'query($q: String!) { authorize(input: { query: $q }) { allowed missingPermissions problems { path permission } } }',
      { q: 'mutation { createLink(input: { workspaceId: "x", url: "https://example.com" }) { __typename } }' },
    );
    expect(dry.data.authorize).toMatchObject({ allowed: false, missingPermissions: ['links:write'], problems: [{ path: 'createLink', permission: 'links:write' }] });

    // 2. A key held to destinations, domains, an idle timeout and a points budget.
    const created = await api.rawRequest<any>(
      `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { ... on CreateApiKeyPayload { secret apiKey {
         id allowedDestinations allowedDomains idleTimeoutDays pointsPerMinute trustedDocumentsOnly } } } }`,
      {
        input: {
          name: 'shop links',
          permission: 'LIMITED',
          scopes: [{ resource: 'LINKS', access: 'WRITE' }],
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
          allowedDestinations: ['*.example.com'],
          allowedDomains: ['tpt.test'],
          idleTimeoutDays: 30,
          pointsPerMinute: 500,
        },
      },
    );
    const limited = created.data.createApiKey;
    expect(limited.apiKey).toMatchObject({ allowedDestinations: ['*.example.com'], allowedDomains: ['tpt.test'], idleTimeoutDays: 30, pointsPerMinute: 500, trustedDocumentsOnly: false });
    const shop = client(limited.secret);
    const CREATE = 'mutation($input: CreateLinkInput!) { createLink(input: $input) { ... on LinkPayload { link { shortUrl } } } }';
    const phishing = await shop.rawRequest<any>(CREATE, { input: { workspaceId, url: 'https://evil.test/login' } });
    expect(phishing.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'SCOPE', restriction: 'allowedDestinations' });
    const fine = await shop.rawRequest<any>(CREATE, { input: { workspaceId, url: 'https://shop.example.com/spring', slug: 'spring' } });
    expect(fine.data.createLink.link.shortUrl).toBe('https://tpt.test/spring');

    // 3. Cost on every answer, and the budget as GitHub's rateLimit.
    const budget = await shop.rawRequest<any>('{ rateLimit { limit remaining used cost } }');
    expect(budget.data.rateLimit.limit).toBe(500);
    expect(budget.extensions).toMatchObject({ cost: { requestedQueryCost: expect.any(Number), actualQueryCost: expect.any(Number), throttleStatus: { maximumAvailable: 500 } } });

    // 4. A workspace policy requiring expiry blocks the READ_ONLY key (no expiry) there, not the others.
    const policy = await api.rawRequest<any>(
      `mutation($input: UpdateWorkspaceKeyPolicyInput!) { updateWorkspaceKeyPolicy(input: $input) {
         ... on WorkspaceKeyPolicyPayload { keyPolicy { requireExpiry } } } }`,
      { input: { workspaceId, requireExpiry: true } },
    );
    expect(policy.data.updateWorkspaceKeyPolicy.keyPolicy.requireExpiry).toBe(true);
    const blocked = await client(readOnly.secret).rawRequest<any>('query($w: ID!) { workspace(id: $w) { name } }', { w: workspaceId });
    expect(blocked.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'POLICY', policy: 'requireExpiry' });
    expect((await shop.rawRequest<any>('{ links(first: 1) { totalCount } }')).data.links.totalCount).toBe(1);

    // 5. Which permissions the shop key used (written in batches).
    await t.services.usage.flush();
    const usage = await shop.rawRequest<any>('{ viewer { key { permissionUsage(days: 1) { permission uses } } } }');
    expect(usage.data.viewer.key.permissionUsage).toEqual([
      { permission: 'links:read', uses: expect.any(Number) },
      // Both createLink calls needed links:write (the phishing one was then refused by allowedDestinations).
      { permission: 'links:write', uses: 2 },
    ]);

    // 6. The audit log of the workspace, for its owner.
    await t.services.audit.flush();
    const audit = await api.rawRequest<any>('query($w: ID!) { auditEvents(workspaceId: $w, first: 20) { edges { node { action ip } } } }', { w: workspaceId });
    const actions = audit.data.auditEvents.edges.map((edge: any) => edge.node.action);
    expect(actions).toEqual(expect.arrayContaining(['link.created', 'workspace.keyPolicyUpdated', 'apiKey.refusedByPolicy']));

    // 7. Trusted documents: a key that may only run registered documents, by documentId.
    const document = '{ links(first: 5) { totalCount } }';
    const registered = await api.rawRequest<any>(
      'mutation($input: RegisterTrustedDocumentsInput!) { registerTrustedDocuments(input: $input) { ... on RegisterTrustedDocumentsPayload { documents { documentId } } } }',
      { input: { workspaceId, documents: [document] } },
    );
    const documentId = registered.data.registerTrustedDocuments.documents[0].documentId as string;
    const trusted = await makeKey(owner, 'READ_ONLY', { expiresAt: new Date(Date.now() + 86_400_000), trustedDocumentsOnly: true });
    const post = (body: unknown) =>
      fetch(`${server.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${trusted.secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const byId = await post({ documentId });
    expect((await byId.json()).data.links.totalCount).toBe(1);
    const raw = await post({ query: document });
    expect(raw.status).toBe(403);
    expect((await raw.json()).errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'TRUSTED_DOCUMENTS_ONLY' });

    // 8. GitHub reports the shop key leaked: deactivated with reason LEAKED at once.
    const report = JSON.stringify([{ token: limited.secret, type: 'taapit_api_key', url: 'https://github.com/acme/shop/blob/main/.env', source: 'content' }]);
    const leak = await fetch(`${server.url}/secret-scanning/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'github-public-key-identifier': 'k1', 'github-public-key-signature': sign('sha256', Buffer.from(report), github.privateKey).toString('base64') },
      body: report,
    });
    expect((await leak.json())[0].label).toBe('true_positive');
    const after = await shop.rawRequest<any>('{ links(first: 1) { totalCount } }').catch((error: { response?: { status: number } }) => error.response);
    expect((after as { status: number }).status).toBe(401);
    const state = await api.rawRequest<any>('query($id: ID!) { apiKey(id: $id) { status deactivationReason } }', { id: limited.apiKey.id });
    expect(state.data.apiKey).toEqual({ status: 'DEACTIVATED', deactivationReason: 'LEAKED' });
  });
});
