import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import { TrustedDocument } from '../src/models/trusted-document.ts';
import type { UserDoc } from '../src/models/user.ts';
import type { WorkspaceDoc } from '../src/models/workspace.ts';
import { commandsDuring, createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

// Trusted documents: registered per workspace, run by the GraphQL-over-HTTP `documentId` form, and
// the only thing a trustedDocumentsOnly key may run.

const { db, started } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  t = createTestApp(db());
});
afterAll(() => t.close());

const sha = (text: string) => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;

const REGISTER = `mutation($input: RegisterTrustedDocumentsInput!) {
  registerTrustedDocuments(input: $input) {
    __typename
    ... on RegisterTrustedDocumentsPayload { documents { documentId document createdAt } }
    ... on Error { code message }
    ... on ValidationError { field }
  }
}`;
const DELETE = `mutation($input: DeleteTrustedDocumentsInput!) {
  deleteTrustedDocuments(input: $input) { __typename ... on DeleteTrustedDocumentsPayload { deletedIds } ... on Error { code message } ... on ValidationError { field } }
}`;
const LIST = 'query($w: ID!) { trustedDocuments(workspaceId: $w) { documentId document } }';

const VIEWER = 'query Me { viewer { key { name trustedDocumentsOnly } } }';
const CREATE_LINK = 'mutation Make($w: ID!, $url: String!) { createLink(input: { workspaceId: $w, url: $url }) { __typename ... on LinkPayload { link { url } } ... on Error { code message } } }';
const CREATE_KEY = `mutation Mint($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { __typename ... on CreateApiKeyPayload { apiKey { trustedDocumentsOnly } } ... on ValidationError { field message } }
}`;
const UPDATE_KEY = `mutation Change($input: UpdateApiKeyInput!) {
  updateApiKey(input: $input) { __typename ... on ApiKeyPayload { apiKey { trustedDocumentsOnly } } ... on ValidationError { field message } }
}`;

/** A POST with a raw JSON body (the persisted document request form), as a client sends it. */
async function post(body: Record<string, unknown>, key?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await t.app.fetch(new Request('http://tpt.test/graphql', { method: 'POST', headers, body: JSON.stringify(body) }), { clientIp: '127.0.0.1' });
  return { status: response.status, body: (await response.json()) as any };
}

async function register(key: string, workspace: WorkspaceDoc, documents: string[]) {
  const result = await gql(t.app, REGISTER, { input: { workspaceId: gid('Workspace', workspace._id), documents } }, { key });
  expect(result.status).toBe(200);
  return result.body.data.registerTrustedDocuments;
}

/** An OWNER with a workspace, a FULL key and a FULL trustedDocumentsOnly key. */
async function owner(): Promise<{ user: UserDoc; workspace: WorkspaceDoc; full: string; trusted: string; trustedId: string }> {
  const user = await makeUser('owner');
  const workspace = await makeWorkspace(user, 'ws');
  const full = await makeKey(user, 'FULL');
  const trusted = await makeKey(user, 'FULL', { trustedDocumentsOnly: true });
  return { user, workspace, full: full.secret, trusted: trusted.secret, trustedId: trusted.globalId };
}

describe('registering trusted documents', () => {
  it('returns sha256 ids of the exact texts, is idempotent, and lists them', async () => {
    const { workspace, full } = await owner();
    const registered = await register(full, workspace, [VIEWER, CREATE_LINK, VIEWER]);
    expect(registered.__typename).toBe('RegisterTrustedDocumentsPayload');
    expect(registered.documents.map((d: { documentId: string }) => d.documentId)).toEqual([sha(VIEWER), sha(CREATE_LINK)]);
    expect(registered.documents[0].documentId).toMatch(/^sha256:[0-9a-f]{64}$/);

    const again = await register(full, workspace, [VIEWER]);
    expect(again.documents).toEqual([registered.documents[0]]);
    expect(await TrustedDocument.countDocuments({ _id: sha(VIEWER) })).toBe(1);

    const list = await gql(t.app, LIST, { w: gid('Workspace', workspace._id) }, { key: full });
    expect(list.body.data.trustedDocuments.map((d: { documentId: string }) => d.documentId).sort()).toEqual([sha(VIEWER), sha(CREATE_LINK)].sort());
  });

  it('refuses a document that does not parse or does not validate, naming it, and stores nothing', async () => {
    const { workspace, full } = await owner();
    const broken = await register(full, workspace, [VIEWER, '{ viewer { nope } }']);
    expect(broken).toMatchObject({ __typename: 'ValidationError', field: 'input.documents.1' });
    expect(broken.message).toContain('nope');
    const unparsable = await register(full, workspace, ['query {']);
    expect(unparsable).toMatchObject({ __typename: 'ValidationError', field: 'input.documents.0' });
    // Over the token limit a sent query has: it would run by id without that check.
    const long = await register(full, workspace, [`{ ${'__typename '.repeat(1001)}}`]);
    expect(long).toMatchObject({ __typename: 'ValidationError', field: 'input.documents.0' });
    expect(long.message).toContain('1000 tokens');
    expect(await TrustedDocument.countDocuments({ workspaces: workspace._id })).toBe(0);
  });

  it('a MEMBER may list but not register (OWNERs only)', async () => {
    const { user, workspace } = await owner();
    const member = await makeUser('member');
    const ws = await makeWorkspace(user, 'shared', [[member, 'MEMBER']]);
    const memberKey = (await makeKey(member, 'FULL')).secret;
    const refused = await gql(t.app, REGISTER, { input: { workspaceId: gid('Workspace', ws._id), documents: [VIEWER] } }, { key: memberKey });
    expect(refused.body.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'ROLE', requiredPermission: 'workspaces:write' });
    const list = await gql(t.app, LIST, { w: gid('Workspace', ws._id) }, { key: memberKey });
    expect(list.body.data.trustedDocuments).toEqual([]);
    expect(workspace).toBeDefined();
  });
});

describe('running a trusted document by documentId', () => {
  it('runs for a normal key and for a trustedDocumentsOnly key, with variables and operationName', async () => {
    const { workspace, full, trusted } = await owner();
    await register(full, workspace, [VIEWER, CREATE_LINK]);

    const mine = await post({ documentId: sha(VIEWER) }, full);
    expect(mine.status).toBe(200);
    expect(mine.body.data.viewer.key).toEqual({ name: 'FULL key', trustedDocumentsOnly: false });

    const restricted = await post({ documentId: sha(VIEWER), operationName: 'Me' }, trusted);
    expect(restricted.status).toBe(200);
    expect(restricted.body.data.viewer.key.trustedDocumentsOnly).toBe(true);

    const made = await post({ documentId: sha(CREATE_LINK), variables: { w: gid('Workspace', workspace._id), url: 'https://example.com/trusted' } }, trusted);
    expect(made.body.data.createLink).toEqual({ __typename: 'LinkPayload', link: { url: 'https://example.com/trusted' } });
  });

  it('runs over GET with the documentId query parameter, and refuses a mutation over GET', async () => {
    const { workspace, full, trusted } = await owner();
    await register(full, workspace, [VIEWER, CREATE_LINK]);
    const get = async (params: Record<string, string>) => {
      const url = `http://tpt.test/graphql?${new URLSearchParams(params)}`;
      const response = await t.app.fetch(new Request(url, { headers: { authorization: `Bearer ${trusted}`, accept: 'application/json' } }), { clientIp: '127.0.0.1' });
      return { status: response.status, body: (await response.json()) as any };
    };
    const read = await get({ documentId: sha(VIEWER) });
    expect(read.status).toBe(200);
    expect(read.body.data.viewer.key.trustedDocumentsOnly).toBe(true);
    const write = await get({ documentId: sha(CREATE_LINK), variables: JSON.stringify({ w: gid('Workspace', workspace._id), url: 'https://example.com/get' }) });
    expect(write.status).toBe(405);
    expect(await Link.countDocuments({ url: 'https://example.com/get' })).toBe(0);
  });

  it('reads the document by primary key', async () => {
    const { workspace, full } = await owner();
    await register(full, workspace, [VIEWER]);
    await post({ documentId: sha(VIEWER) }, full); // the key is cached from here on
    const commands = await commandsDuring(started, () => post({ documentId: sha(VIEWER) }, full));
    const lookups = commands.filter((c) => c.command.find === 'trusteddocuments');
    expect(lookups).toHaveLength(1);
    expect(lookups[0]!.command.filter).toEqual({ _id: sha(VIEWER) });

    // The roles read to decide the document are the ones the operation then uses: one read.
    const LINKS = 'query { links(first: 5) { edges { node { id } } } }';
    await register(full, workspace, [LINKS]);
    const links = await commandsDuring(started, () => post({ documentId: sha(LINKS) }, full));
    expect(links.filter((c) => c.command.find === 'userroles')).toHaveLength(1);
    expect(links.filter((c) => c.command.find === 'trusteddocuments')).toHaveLength(1);
  });

  it('an unknown documentId is a clear 400; so are a malformed one and query with documentId', async () => {
    const { full } = await owner();
    const unknown = await post({ documentId: sha('{ viewer { key { id } } } # never registered') }, full);
    expect(unknown.status).toBe(400);
    expect(unknown.body.data).toBeUndefined();
    expect(unknown.body.errors).toHaveLength(1);
    expect(unknown.body.errors[0].extensions.code).toBe('PERSISTED_DOCUMENT_NOT_FOUND');
    expect(unknown.body.errors[0].message).toContain('registerTrustedDocuments');

    const malformed = await post({ documentId: 'abc' }, full);
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0]).toMatchObject({ extensions: { code: 'BAD_REQUEST' } });
    expect(malformed.body.errors[0].message).toContain('sha256:');

    const both = await post({ query: VIEWER, documentId: sha(VIEWER) }, full);
    expect(both.status).toBe(400);
    expect(both.body.errors[0].message).toContain('not both');
  });

  it('without a key, a documentId is a 401 like any request', async () => {
    const { workspace, full } = await owner();
    await register(full, workspace, [VIEWER]);
    const anonymous = await post({ documentId: sha(VIEWER) });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('stops running once deleted from the workspace; a document another workspace registered stays for it', async () => {
    const { user, workspace, full, trusted } = await owner();
    const other = await makeWorkspace(user, 'other');
    const text = `${VIEWER} # deleted`; // a text no other test registers
    await register(full, workspace, [text]);
    await register(full, other, [text]);
    const restricted = (await makeKey(user, 'FULL', { workspaces: [workspace._id] })).secret;

    const deleted = await gql(t.app, DELETE, { input: { workspaceId: gid('Workspace', workspace._id), documentIds: [sha(text), sha('x')] } }, { key: full });
    expect(deleted.body.data.deleteTrustedDocuments).toEqual({ __typename: 'DeleteTrustedDocumentsPayload', deletedIds: [sha(text)] });
    expect((await post({ documentId: sha(text) }, restricted)).body.errors[0].extensions.code).toBe('PERSISTED_DOCUMENT_NOT_FOUND');
    expect((await post({ documentId: sha(text) }, trusted)).status).toBe(200); // still registered in `other`

    await gql(t.app, DELETE, { input: { workspaceId: gid('Workspace', other._id), documentIds: [sha(text)] } }, { key: full });
    expect(await TrustedDocument.countDocuments({ _id: sha(text) })).toBe(0);
    const malformed = await gql(t.app, DELETE, { input: { workspaceId: gid('Workspace', other._id), documentIds: ['nope'] } }, { key: full });
    expect(malformed.body.data.deleteTrustedDocuments).toMatchObject({ __typename: 'ValidationError', code: 'BAD_USER_INPUT' });
  });
});

describe('deleting a workspace', () => {
  it('forgets its registrations; a document another workspace registered stays', async () => {
    const { user, workspace, full } = await owner();
    const other = await makeWorkspace(user, 'other');
    const shared = `${VIEWER} # shared`;
    const own = `${VIEWER} # own`;
    await register(full, workspace, [shared, own]);
    await register(full, other, [shared]);
    const deleted = await gql(t.app, 'mutation($input: WorkspaceIdInput!) { deleteWorkspace(input: $input) { __typename } }', { input: { id: gid('Workspace', workspace._id) } }, { key: full });
    expect(deleted.body.data.deleteWorkspace.__typename).toBe('DeletePayload');
    expect(await TrustedDocument.countDocuments({ _id: sha(own) })).toBe(0);
    expect((await TrustedDocument.findById(sha(shared)).lean())?.workspaces.map(String)).toEqual([String(other._id)]);
  });
});

describe('a trustedDocumentsOnly key runs nothing else', () => {
  it('refuses a raw query or mutation with 403 TRUSTED_DOCUMENTS_ONLY, before anything runs', async () => {
    const { workspace, trusted } = await owner();
    const query = await gql(t.app, VIEWER, {}, { key: trusted });
    expect(query.status).toBe(403);
    expect(query.body.data).toBeUndefined();
    expect(query.body.errors).toHaveLength(1);
    expect(query.body.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'TRUSTED_DOCUMENTS_ONLY' });
    expect(query.body.errors![0]!.message).toContain('documentId');

    const url = 'https://example.com/raw-mutation';
    const mutation = await gql(t.app, CREATE_LINK, { w: gid('Workspace', workspace._id), url }, { key: trusted });
    expect(mutation.status).toBe(403);
    expect(await Link.countDocuments({ url })).toBe(0);

    // Introspection is a raw query too.
    expect((await gql(t.app, '{ __typename }', {}, { key: trusted })).status).toBe(403);
  });

  it('a normal key still sends raw queries', async () => {
    const { full } = await owner();
    const result = await gql(t.app, VIEWER, {}, { key: full });
    expect(result.status).toBe(200);
    expect(result.body.data.viewer.key.trustedDocumentsOnly).toBe(false);
  });
});

describe('isolation: a key runs only documents registered for workspaces it reaches', () => {
  it('a key restricted to A cannot run a document registered only by B, and that answers like an unknown id', async () => {
    const { user, workspace: a, full } = await owner();
    const b = await makeWorkspace(user, 'B');
    const onlyB = `${VIEWER} # B`;
    await register(full, b, [onlyB]);
    const inA = (await makeKey(user, 'FULL', { workspaces: [a._id], trustedDocumentsOnly: true })).secret;

    const refused = await post({ documentId: sha(onlyB) }, inA);
    const unknown = await post({ documentId: sha(`${VIEWER} # nowhere`) }, inA);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual(unknown.body);

    await register(full, a, [onlyB]);
    expect((await post({ documentId: sha(onlyB) }, inA)).status).toBe(200);
  });

  it("another user's document answers like an unknown id, even for an unrestricted key", async () => {
    const alice = await owner();
    const bob = await owner();
    const bobs = `${VIEWER} # bob`;
    await register(bob.full, bob.workspace, [bobs]);
    const refused = await post({ documentId: sha(bobs) }, alice.full);
    const unknown = await post({ documentId: sha(`${VIEWER} # nobody`) }, alice.full);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual(unknown.body);
  });

  it("cannot register in or list another user's workspace (NotFound, nothing stored)", async () => {
    const alice = await owner();
    const bob = await owner();
    const text = `${VIEWER} # intruder`;
    const refused = await register(alice.full, bob.workspace, [text]);
    expect(refused).toMatchObject({ __typename: 'NotFoundError' });
    expect(await TrustedDocument.countDocuments({ _id: sha(text) })).toBe(0);
    const list = await gql(t.app, LIST, { w: gid('Workspace', bob.workspace._id) }, { key: alice.full });
    expect(list.body.data.trustedDocuments).toBeNull();
  });
});

describe('trustedDocumentsOnly only narrows', () => {
  it('such a key mints and changes keys only with trustedDocumentsOnly: true, itself included', async () => {
    const { workspace, full, trusted, trustedId } = await owner();
    await register(full, workspace, [CREATE_KEY, UPDATE_KEY]);
    const mint = (input: Record<string, unknown>) => post({ documentId: sha(CREATE_KEY), variables: { input: { name: 'child', permission: 'READ_ONLY', ...input } } }, trusted);

    const wider = (await mint({})).body.data.createApiKey;
    expect(wider).toMatchObject({ __typename: 'ValidationError', field: 'input.trustedDocumentsOnly' });
    expect(wider.message).toContain('Escalation refused');
    expect((await mint({ trustedDocumentsOnly: false })).body.data.createApiKey.__typename).toBe('ValidationError');
    expect((await mint({ trustedDocumentsOnly: true })).body.data.createApiKey).toEqual({ __typename: 'CreateApiKeyPayload', apiKey: { trustedDocumentsOnly: true } });

    const lift = await post({ documentId: sha(UPDATE_KEY), variables: { input: { id: trustedId, trustedDocumentsOnly: false } } }, trusted);
    expect(lift.body.data.updateApiKey).toMatchObject({ __typename: 'ValidationError', field: 'input.trustedDocumentsOnly' });
    const rename = await post({ documentId: sha(UPDATE_KEY), variables: { input: { id: trustedId, name: 'renamed' } } }, trusted);
    expect(rename.body.data.updateApiKey).toEqual({ __typename: 'ApiKeyPayload', apiKey: { trustedDocumentsOnly: true } });
  });

  it('a normal FULL key may set and lift it', async () => {
    const { full, trusted, trustedId } = await owner();
    const set = await gql(t.app, CREATE_KEY, { input: { name: 'ci', permission: 'READ_ONLY', trustedDocumentsOnly: true } }, { key: full });
    expect(set.body.data.createApiKey.apiKey.trustedDocumentsOnly).toBe(true);
    const lifted = await gql(t.app, UPDATE_KEY, { input: { id: trustedId, trustedDocumentsOnly: false } }, { key: full });
    expect(lifted.body.data.updateApiKey.apiKey.trustedDocumentsOnly).toBe(false);
    // From the next request on, as every key change.
    expect((await gql(t.app, VIEWER, {}, { key: trusted })).status).toBe(200);
  });
});
