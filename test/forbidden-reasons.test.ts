import fs from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthScopeFailureType, type ForbiddenResult } from '@pothos/plugin-scope-auth';
import type { GraphQLResolveInfo } from 'graphql';
import type { Context } from '../src/context.ts';
import { FORBIDDEN_REASONS } from '../src/errors.ts';
import { unauthorizedError } from '../src/schema/auth-scopes.ts';
import type { UserDoc } from '../src/models/user.ts';
import type { WorkspaceDoc } from '../src/models/workspace.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type GqlResult, type TestApp } from './helpers.ts';
import { ROOT } from './process.ts';

// Every FORBIDDEN says why in `extensions.reason`, so a client can tell "this whole request is
// refused" (IP_NOT_ALLOWED, HTTP 403, no data) from "this field is refused" (SCOPE, ROLE: HTTP 200).

const { db } = useTestDatabase();
let t: TestApp;
let owner: UserDoc;
let viewer: UserDoc;
let member: UserDoc;
let workspace: WorkspaceDoc;

beforeAll(async () => {
  t = createTestApp(db());
  owner = await makeUser('owner');
  viewer = await makeUser('viewer');
  member = await makeUser('member');
  workspace = await makeWorkspace(owner, 'reasons', [
    [viewer, 'VIEWER'],
    [member, 'MEMBER'],
  ]);
});
afterAll(() => t.close());

const CREATE_LINK = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }';
const UPDATE_WORKSPACE = 'mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { __typename } }';
const CREATE_KEY = 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { __typename } }';
const CREATE_WORKSPACE = 'mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { __typename } }';
const WORKSPACE_AND_LINKS = 'query($id: ID!) { workspace(id: $id) { name } links { totalCount } }';

/** One field refused: HTTP 200, the rest of the answer intact, one FORBIDDEN naming reason and permission. */
function expectFieldRefused(result: GqlResult, reason: string, permission: string) {
  expect(result.status, JSON.stringify(result.body)).toBe(200);
  expect(result.body.errors, JSON.stringify(result.body)).toHaveLength(1);
  expect(result.body.errors![0]!.extensions).toEqual({ code: 'FORBIDDEN', reason, requiredPermission: permission });
}

describe('FORBIDDEN carries extensions.reason', () => {
  it('IP_NOT_ALLOWED: the whole request is refused with 403 and no data, whatever the Accept header or method', async () => {
    const { secret } = await makeKey(owner, 'FULL', { allowedIps: ['203.0.113.7'] });
    const body = JSON.stringify({ query: '{ viewer { key { id } } }' });
    const requests = [
      new Request('http://tpt.test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body }),
      new Request('http://tpt.test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${secret}` }, body }),
      new Request('http://tpt.test/graphql?query=%7Bviewer%7Bkey%7Bid%7D%7D%7D', { headers: { accept: 'application/json', authorization: `Bearer ${secret}` } }),
      // Not plain JSON: answered by yoga itself rather than before the body is read.
      new Request('http://tpt.test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${secret}` }, body }),
    ];
    for (const request of requests) {
      const response = await t.app.fetch(request, { clientIp: '198.51.100.1' });
      const text = await response.text();
      const context = `${request.method} ${request.headers.get('accept')}: ${text}`;
      expect(response.status, context).toBe(403);
      expect(text, context).toContain('"reason":"IP_NOT_ALLOWED"');
      expect(text, context).toContain('"code":"FORBIDDEN"');
      expect(text, context).not.toContain('"data"');
      expect(text, context).toContain('may not be used from 198.51.100.1');
    }
  });

  it('SCOPE: the key lacks the permission (key management, a resource, workspace creation by a restricted key)', async () => {
    const readOnly = await makeKey(owner, 'READ_ONLY');
    const createKey = await gql(t.app, CREATE_KEY, { i: { name: 'x', permission: 'READ_ONLY' } }, { key: readOnly.secret });
    expectFieldRefused(createKey, 'SCOPE', 'keys:write');
    expect(createKey.body.errors![0]!.message).toBe('This API key lacks the keys:write permission needed by Mutation.createApiKey.');
    const linksRead = await makeKey(owner, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }] });
    expectFieldRefused(await gql(t.app, CREATE_LINK, { i: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.com' } }, { key: linksRead.secret }), 'SCOPE', 'links:write');
    const restricted = await makeKey(owner, 'FULL', { workspaces: [workspace._id] });
    expectFieldRefused(await gql(t.app, CREATE_WORKSPACE, { i: { name: 'more' } }, { key: restricted.secret }), 'SCOPE', 'workspaces:write');
    // One field refused, the rest answered.
    const partial = await gql(t.app, WORKSPACE_AND_LINKS, { id: gid('Workspace', workspace._id) }, { key: linksRead.secret });
    expectFieldRefused(partial, 'SCOPE', 'workspaces:read');
    expect(partial.body.data).toEqual({ workspace: null, links: { totalCount: expect.any(Number) } });
  });

  it("ROLE: a FULL key whose user's role in the workspace is too low", async () => {
    const asViewer = await makeKey(viewer, 'FULL');
    const createLink = await gql(t.app, CREATE_LINK, { i: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.com' } }, { key: asViewer.secret });
    expectFieldRefused(createLink, 'ROLE', 'links:write');
    expect(createLink.body.errors![0]!.message).toMatch(/role in this workspace.*ask a workspace owner/);
    const asMember = await makeKey(member, 'FULL');
    expectFieldRefused(await gql(t.app, UPDATE_WORKSPACE, { i: { id: gid('Workspace', workspace._id), name: 'renamed' } }, { key: asMember.secret }), 'ROLE', 'workspaces:write');
    // The same member may write links: the role allows it.
    const allowed = await gql(t.app, CREATE_LINK, { i: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.com' } }, { key: asMember.secret });
    expect(allowed.body.data?.createLink.__typename).toBe('LinkPayload');
  });

  it('SCOPE wins over ROLE when both refuse: the key is what the caller can change first', async () => {
    const viewerLinksRead = await makeKey(viewer, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }] });
    expectFieldRefused(await gql(t.app, CREATE_LINK, { i: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.com' } }, { key: viewerLinksRead.secret }), 'SCOPE', 'links:write');
  });

  it('an object of a workspace the key may not see (a guard behind NOT_FOUND): SCOPE when the key is restricted away, ROLE when the user is no member', () => {
    const refusal = (workspaces: string[]) => {
      const ctx = { key: { grant: { permission: 'FULL', scopes: [], workspaces } } } as unknown as Context;
      const info = { parentType: { name: 'Workspace' }, fieldName: 'name' } as GraphQLResolveInfo;
      const failure = { kind: AuthScopeFailureType.AuthScope, scope: 'visibleWorkspace', parameter: 'ws-1', error: null };
      return unauthorizedError(null, ctx, info, { failure } as unknown as ForbiddenResult).extensions;
    };
    expect(refusal(['ws-2'])).toEqual({ code: 'FORBIDDEN', reason: 'SCOPE', requiredPermission: 'workspace:access' });
    expect(refusal([])).toEqual({ code: 'FORBIDDEN', reason: 'ROLE', requiredPermission: 'workspace:access' });
  });

  it('every reason, POLICY included, is in the README errors table', () => {
    const readme = fs.readFileSync(`${ROOT}/README.md`, 'utf8');
    const errors = readme.slice(readme.indexOf('## Errors'), readme.indexOf('\n## ', readme.indexOf('## Errors') + 1));
    for (const reason of FORBIDDEN_REASONS) expect(errors).toMatch(new RegExp(`^ *\\| \`${reason}\` \\|`, 'm'));
  });
});

describe('bad cursors and ids: BAD_USER_INPUT naming the argument, saying how to fix it', () => {
  const own = () => gid('Workspace', workspace._id);
  // A few fields per argument kind; test/ids.test.ts walks every id and cursor argument of the schema.
  const targets: { name: string; document: string; variables: (value: string) => Record<string, unknown>; argument: string }[] = [
    { name: 'links(after)', document: 'query($v: String) { links(after: $v) { totalCount } }', variables: (v) => ({ v }), argument: 'after' },
    { name: 'apiKeys(before)', document: 'query($v: String) { apiKeys(before: $v, last: 2) { totalCount } }', variables: (v) => ({ v }), argument: 'before' },
    { name: 'Workspace.members(after)', document: 'query($id: ID!, $v: String) { workspace(id: $id) { members(after: $v) { totalCount } } }', variables: (v) => ({ id: own(), v }), argument: 'after' },
    { name: 'link(id)', document: 'query($v: ID!) { link(id: $v) { id } }', variables: (v) => ({ v }), argument: 'id' },
    { name: 'node(id)', document: 'query($v: ID!) { node(id: $v) { id } }', variables: (v) => ({ v }), argument: 'id' },
    { name: 'projects(workspaceId)', document: 'query($v: ID) { projects(workspaceId: $v) { totalCount } }', variables: (v) => ({ v }), argument: 'workspaceId' },
    { name: 'domains(workspaceId)', document: 'query($v: ID) { domains(workspaceId: $v) { totalCount } }', variables: (v) => ({ v }), argument: 'workspaceId' },
  ];
  let secret: string;
  beforeAll(async () => {
    secret = (await makeKey(owner, 'FULL')).secret;
  });

  // Any text at all: unicode, base64-looking, and base64 of text that almost looks like ours.
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const anyString = fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }),
    fc.base64String({ minLength: 1, maxLength: 60 }),
    fc.string({ minLength: 1, maxLength: 40 }).map(b64),
    fc.string({ maxLength: 30 }).map((inner) => b64(`Link:${inner}`)),
    fc.string({ maxLength: 30 }).map((inner) => Buffer.from(`k1|${inner}`).toString('base64url')),
  );

  it.each(targets)('$name', async ({ document, variables, argument }) => {
    await fc.assert(
      fc.asyncProperty(anyString, async (value) => {
        const result = await gql(t.app, document, variables(value), { key: secret });
        const context = JSON.stringify({ value, body: result.body });
        expect(result.status, context).toBe(200);
        // Some strings are valid ids of nothing (or valid cursors): answered without an error.
        if (!result.body.errors) return;
        expect(result.body.errors, context).toHaveLength(1);
        const [error] = result.body.errors;
        expect(error!.extensions, context).toEqual({ code: 'BAD_USER_INPUT', argument });
        expect(error!.message.startsWith(`${argument}: `), context).toBe(true);
        expect(error!.message, context).not.toMatch(/invalid base64|unexpected|internal/i);
        // The fix: which value to pass instead.
        expect(error!.message, context).toMatch(/; (use|pass|start again)\b/);
        expect(error!.message.length, context).toBeLessThan(400);
      }),
      { numRuns: 60 },
    );
  });
});
