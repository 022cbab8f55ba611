import mongoose, { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvent, purgeAuditEvents } from '../src/core/audit.ts';
import { revokeLeakedTokens } from '../src/core/secret-scanning.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { AuditEvent, type AuditEventDoc } from '../src/models/audit-event.ts';
import { TrustedDocument } from '../src/models/trusted-document.ts';
import { Workspace } from '../src/models/workspace.ts';
import { parseGlobalId } from '../src/schema/ids.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';
import { OPERATIONS, outcomeOf } from './operations.ts';
import { makeTarget, publishedZone, type Target } from './world.ts';

const { db } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  t = createTestApp(db(), {}, { txtResolver: publishedZone });
});
afterAll(() => t.close());

const LIST = `query($w: ID, $k: ID, $a: String, $from: DateTime, $to: DateTime, $first: Int, $after: String) {
  auditEvents(workspaceId: $w, keyId: $k, action: $a, from: $from, to: $to, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id action actor { user key } target { type id } workspace ip userAgent requestId createdAt changes } }
  }
}`;

interface Expected {
  action: string;
  type: string;
  /** The target's global id, when the operation names it. */
  id?: (target: Target) => string;
  /** 'target': the operation's workspace; 'created': the one it created; null: a key event. */
  workspace: 'target' | 'created' | null;
}

const own = (action: string, type: string, id?: (target: Target) => string): Expected => ({ action, type, id, workspace: 'target' });
const keyEvent = (action: string, withId = true): Expected => ({ action, type: 'ApiKey', id: withId ? (target) => target.keyId : undefined, workspace: null });

/** What each mutation of test/operations.ts records. */
const EXPECTED: Record<string, Expected> = {
  createApiKey: keyEvent('apiKey.created', false),
  updateApiKey: keyEvent('apiKey.updated'),
  rotateApiKey: keyEvent('apiKey.rotated'),
  deactivateApiKey: keyEvent('apiKey.deactivated'),
  deleteApiKey: keyEvent('apiKey.deleted'),
  createWorkspace: { action: 'workspace.created', type: 'Workspace', workspace: 'created' },
  updateWorkspace: own('workspace.updated', 'Workspace', (target) => target.workspaceId),
  deleteWorkspace: own('workspace.deleted', 'Workspace', (target) => target.workspaceId),
  inviteWorkspaceMember: own('invitation.created', 'WorkspaceInvitation'),
  revokeWorkspaceInvitation: own('invitation.revoked', 'WorkspaceInvitation', (target) => target.invitationId),
  acceptWorkspaceInvitation: own('invitation.accepted', 'WorkspaceInvitation', (target) => target.invitationId),
  updateWorkspaceMember: own('member.updated', 'User', (target) => target.memberUserId),
  removeWorkspaceMember: own('member.removed', 'User', (target) => target.memberUserId),
  createProject: own('project.created', 'Project'),
  updateProject: own('project.updated', 'Project', (target) => target.projectId),
  deleteProject: own('project.deleted', 'Project', (target) => target.projectId),
  createLink: own('link.created', 'Link'),
  updateLink: own('link.updated', 'Link', (target) => target.linkId),
  deleteLink: own('link.deleted', 'Link', (target) => target.linkId),
  addDomain: own('domain.added', 'Domain'),
  verifyDomain: own('domain.verified', 'Domain', (target) => target.unverifiedDomainId),
  updateDomain: own('domain.updated', 'Domain', (target) => target.domainId),
  deleteDomain: own('domain.deleted', 'Domain', (target) => target.domainId),
  updateWorkspaceKeyPolicy: own('workspace.keyPolicyUpdated', 'Workspace', (target) => target.workspaceId),
  registerTrustedDocuments: own('trustedDocuments.registered', 'Workspace', (target) => target.workspaceId),
  deleteTrustedDocuments: own('trustedDocuments.deleted', 'Workspace', (target) => target.workspaceId),
};

const mutations = OPERATIONS.filter((op) => op.kind === 'mutation');

/** What must exist first for an operation's variables to change something (a no-op writes nothing, so records nothing). */
const SETUP: Record<string, (target: Target) => Promise<unknown>> = {
  deleteTrustedDocuments: (target) =>
    TrustedDocument.create({ _id: `sha256:${'0'.repeat(64)}`, document: '{ viewer { key { id } } }', workspaces: [target.raw.workspaceId], createdAt: new Date() }),
};

const eventsBy = (keyId: string) => AuditEvent.find({ actorKeyId: new Types.ObjectId(keyId) }).lean<AuditEventDoc[]>().exec();

describe('every mutation leaves exactly one audit event', () => {
  it('every mutation of the operations table has an expected event here', () => {
    expect(mutations.map((op) => op.field).filter((field) => !EXPECTED[field])).toEqual([]);
  });

  it.each(mutations.map((op) => ({ op, label: op.field })))('$label', async ({ op }) => {
    const alice = await makeUser('alice');
    const targetKey = await makeKey(alice, 'READ_ONLY');
    const target = await makeTarget(alice, 'OWNER', targetKey.globalId);
    const key = await makeKey(alice, 'FULL');
    await SETUP[op.field]?.(target);
    const result = await gql(t.app, op.document, op.variables(target), { key: key.secret, ip: '203.0.113.7' });
    expect(outcomeOf(op, result.body)).toEqual({ kind: 'ok' });

    const events = await eventsBy(key.id);
    expect(events).toHaveLength(1);
    const [event] = events;
    const want = EXPECTED[op.field]!;
    expect(event!.action).toBe(want.action);
    expect(event!.targetType).toBe(want.type);
    if (want.id) expect(gid(want.type, event!.targetId)).toBe(want.id(target));
    expect(String(event!.actorUserId)).toBe(String(alice._id));
    expect(event!.ip).toBe('203.0.113.7');
    if (want.workspace === 'target') expect(String(event!.workspaceId)).toBe(String(target.raw.workspaceId));
    if (want.workspace === 'created') expect(gid('Workspace', event!.workspaceId!)).toBe(result.body.data.createWorkspace.workspace.id);
    if (want.workspace === null) {
      expect(event!.workspaceId).toBeNull();
      expect(String(event!.subjectUserId)).toBe(String(alice._id));
    }
    // The event is stored before the answer: no flush was needed.
  });

  it('a refused mutation (validation error) records nothing', async () => {
    const alice = await makeUser('alice');
    const workspace = await makeWorkspace(alice);
    const key = await makeKey(alice, 'FULL');
    const create = OPERATIONS.find((op) => op.field === 'createLink')!;
    const result = await gql(t.app, create.document, { input: { workspaceId: gid('Workspace', workspace._id), url: 'not a url' } }, { key: key.secret });
    expect(result.body.data.createLink.__typename).toBe('ValidationError');
    expect(await eventsBy(key.id)).toEqual([]);
  });
});

describe('reading the audit log', () => {
  it('an owner reads the workspace events with the request details, filtered and paginated', async () => {
    const alice = await makeUser('alice');
    const workspace = await makeWorkspace(alice);
    const w = gid('Workspace', workspace._id);
    const key = await makeKey(alice, 'FULL');
    const create = OPERATIONS.find((op) => op.field === 'createLink')!;
    const response = await t.app.fetch(
      new Request('http://tpt.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}`, 'user-agent': 'audit-test/1.0', 'x-request-id': 'req-audit-1' },
        body: JSON.stringify({ query: create.document, variables: { input: { workspaceId: w, url: 'https://example.org/a' } } }),
      }),
      { clientIp: '198.51.100.9' },
    );
    const linkId = (await response.json()).data.createLink.link.id;
    for (const url of ['https://example.org/b', 'https://example.org/c']) {
      await gql(t.app, create.document, { input: { workspaceId: w, url } }, { key: key.secret });
    }
    await gql(t.app, 'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename } }', { i: { id: linkId, title: 'T' } }, { key: key.secret });

    const all = await gql(t.app, LIST, { w }, { key: key.secret });
    expect(all.body.errors).toBeUndefined();
    const nodes = all.body.data.auditEvents.edges.map((e: any) => e.node);
    expect(nodes.map((n: any) => n.action)).toEqual(['link.updated', 'link.created', 'link.created', 'link.created']);
    expect(nodes[0].changes).toEqual({ title: { before: null, after: 'T' } });
    const first = nodes[3];
    expect(first).toMatchObject({
      actor: { user: gid('User', alice._id), key: key.globalId },
      target: { type: 'Link', id: linkId },
      workspace: w,
      ip: '198.51.100.9',
      userAgent: 'audit-test/1.0',
      requestId: 'req-audit-1',
    });
    expect(first.changes.url).toEqual({ after: 'https://example.org/a' });

    const updates = await gql(t.app, LIST, { w, a: 'link.updated' }, { key: key.secret });
    expect(updates.body.data.auditEvents.totalCount).toBe(1);

    const page1 = await gql(t.app, LIST, { w, first: 3 }, { key: key.secret });
    expect(page1.body.data.auditEvents.pageInfo.hasNextPage).toBe(true);
    const page2 = await gql(t.app, LIST, { w, first: 3, after: page1.body.data.auditEvents.pageInfo.endCursor }, { key: key.secret });
    expect(page2.body.data.auditEvents.edges.map((e: any) => e.node.id)).toEqual([nodes[3].id]);

    const future = await gql(t.app, LIST, { w, from: new Date(Date.now() + 60_000).toISOString() }, { key: key.secret });
    expect(future.body.data.auditEvents.totalCount).toBe(0);
    const past = await gql(t.app, LIST, { w, to: new Date(Date.now() + 60_000).toISOString() }, { key: key.secret });
    expect(past.body.data.auditEvents.totalCount).toBe(4);
  });

  it('AUDIT_LOG: READ at most, OWNERs only; a LIMITED key needs the scope', async () => {
    const alice = await makeUser('alice');
    const bob = await makeUser('bob');
    const workspace = await makeWorkspace(alice, 'w', [[bob, 'MEMBER']]);
    const w = gid('Workspace', workspace._id);
    const scoped = await makeKey(alice, 'LIMITED', { scopes: [{ resource: 'AUDIT_LOG', access: 'READ' }] });
    expect((await gql(t.app, LIST, { w }, { key: scoped.secret })).body.data.auditEvents.edges).toEqual([]);

    const linksOnly = await makeKey(alice, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'WRITE' }] });
    const noScope = await gql(t.app, LIST, { w }, { key: linksOnly.secret });
    expect(noScope.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', requiredPermission: 'audit_log:read' });

    const member = await makeKey(bob, 'FULL');
    const byMember = await gql(t.app, LIST, { w }, { key: member.secret });
    expect(byMember.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', requiredPermission: 'audit_log:read', reason: 'ROLE' });

    const full = await makeKey(alice, 'FULL');
    const write = await gql(
      t.app,
      'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { __typename ... on Error { message } } }',
      { i: { name: 'x', permission: 'LIMITED', scopes: [{ resource: 'AUDIT_LOG', access: 'WRITE' }] } },
      { key: full.secret },
    );
    expect(write.body.data.createApiKey.__typename).toBe('ValidationError');
    expect(write.body.data.createApiKey.message).toMatch(/READ at most/);
  });

  it("another workspace's events look like a workspace that does not exist; a foreign key's events are invisible", async () => {
    const alice = await makeUser('alice');
    const bob = await makeUser('bob');
    const bobsWorkspace = await makeWorkspace(bob);
    const bobsKey = await makeKey(bob, 'FULL');
    await gql(t.app, OPERATIONS.find((op) => op.field === 'createLink')!.document, { input: { workspaceId: gid('Workspace', bobsWorkspace._id), url: 'https://example.org/' } }, { key: bobsKey.secret });
    await gql(t.app, 'mutation { createApiKey(input: { name: "b2", permission: READ_ONLY }) { __typename } }', {}, { key: bobsKey.secret });
    const aliceKey = await makeKey(alice, 'FULL');

    const foreign = await gql(t.app, LIST, { w: gid('Workspace', bobsWorkspace._id) }, { key: aliceKey.secret });
    const ghost = await gql(t.app, LIST, { w: gid('Workspace', new Types.ObjectId()) }, { key: aliceKey.secret });
    expect(foreign.body.errors).toBeUndefined();
    expect(foreign.body.data).toEqual({ auditEvents: null });
    expect(ghost.body.data).toEqual(foreign.body.data);

    const mine = await gql(t.app, LIST, {}, { key: aliceKey.secret });
    expect(mine.body.data.auditEvents.totalCount).toBe(0);
    const byBobsKey = await gql(t.app, LIST, { k: bobsKey.globalId }, { key: aliceKey.secret });
    expect(byBobsKey.body.data.auditEvents.totalCount).toBe(0);
    // Bob sees his own key's event.
    const bobs = await gql(t.app, LIST, { k: bobsKey.globalId }, { key: bobsKey.secret });
    expect(bobs.body.data.auditEvents.edges.map((e: any) => e.node.action)).toEqual(['apiKey.created']);
  });
});

describe('key lifecycle events', () => {
  it('no secret and no hash in any event of a created and a rotated key', async () => {
    const alice = await makeUser('alice');
    const key = await makeKey(alice, 'FULL');
    const created = await gql(
      t.app,
      'mutation { createApiKey(input: { name: "leaky?", permission: READ_ONLY }) { ... on CreateApiKeyPayload { apiKey { id } secret } } }',
      {},
      { key: key.secret },
    );
    const { apiKey, secret } = created.body.data.createApiKey;
    const rotated = await gql(
      t.app,
      'mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { ... on CreateApiKeyPayload { secret } } }',
      { i: { id: apiKey.id, gracePeriodSeconds: 60 } },
      { key: key.secret },
    );
    const newSecret = rotated.body.data.rotateApiKey.secret;
    const doc = await ApiKey.findById(parseGlobalId(apiKey.id, 'ApiKey')).lean().exec();

    const mine = await gql(t.app, LIST, { k: apiKey.id }, { key: key.secret });
    expect(mine.body.data.auditEvents.edges.map((e: any) => e.node.action)).toEqual(['apiKey.rotated', 'apiKey.created']);
    const stored = JSON.stringify(await AuditEvent.find({ subjectUserId: alice._id }).lean().exec());
    for (const text of [JSON.stringify(mine.body), stored]) {
      for (const forbidden of [secret, newSecret, doc!.secretHash, doc!.previousSecretHash!]) expect(text).not.toContain(forbidden);
      expect(text).not.toMatch(/secret|hash/i);
    }
  });

  it('first use from a new address: once per (key, address), written by the batch, never again on another instance', async () => {
    const alice = await makeUser('alice');
    const key = await makeKey(alice, 'READ_ONLY');
    for (const ip of ['192.0.2.1', '192.0.2.1', '192.0.2.2']) await gql(t.app, '{ viewer { key { id } } }', {}, { key: key.secret, ip });
    const first = () => AuditEvent.find({ action: 'apiKey.firstUseFromNewIp', targetId: key.id }).lean<AuditEventDoc[]>().exec();
    expect(await first()).toEqual([]); // nothing written on the request path
    await t.services.audit.flush();
    expect((await first()).map((e) => e.ip).sort()).toEqual(['192.0.2.1', '192.0.2.2']);

    const other = createTestApp(db());
    try {
      await gql(other.app, '{ viewer { key { id } } }', {}, { key: key.secret, ip: '192.0.2.1' });
      await other.services.audit.flush();
    } finally {
      await other.close();
    }
    expect(await first()).toHaveLength(2);
  });

  it('a leak report and a policy refusal are recorded', async () => {
    const alice = await makeUser('alice');
    const workspace = await makeWorkspace(alice);
    const key = await makeKey(alice, 'FULL');
    const doc = await ApiKey.findById(key.id).lean().exec();
    // A key without expiry in a workspace that requires one: two refused fields, one event.
    await Workspace.updateOne({ _id: workspace._id }, { $set: { keyPolicy: { requireExpiry: true, requireIpAllowlist: false, maxLifetimeDays: null } } }).exec();
    t.services.documents.clear();
    const refused = await gql(
      t.app,
      'query($w: ID!) { workspace(id: $w) { name } links(workspaceId: $w, first: 1) { totalCount } }',
      { w: gid('Workspace', workspace._id) },
      { key: key.secret },
    );
    expect(refused.body.errors?.map((e) => e.extensions?.reason)).toEqual(['POLICY', 'POLICY']);
    // Asking authorize about it is not a refusal.
    await gql(t.app, 'query($q: String!) { authorize(input: { query: $q }) { allowed } }', { q: `{ workspace(id: "${gid('Workspace', workspace._id)}") { name } }` }, { key: key.secret });
    await revokeLeakedTokens(t.services, [{ token: key.secret, type: 'taapit_api_key' }]);
    await t.services.audit.flush();
    const events = await AuditEvent.find({ targetId: key.id }).sort({ _id: 1 }).lean<AuditEventDoc[]>().exec();
    expect(events.map((e) => [e.action, e.workspaceId && String(e.workspaceId)])).toEqual(
      expect.arrayContaining([
        ['apiKey.leaked', null],
        ['apiKey.refusedByPolicy', String(workspace._id)],
      ]),
    );
    expect(events.filter((e) => e.action === 'apiKey.refusedByPolicy')).toHaveLength(1);
    expect(JSON.stringify(events)).not.toContain(doc!.secretHash);
  });
});

describe('retention', () => {
  it('the purge removes the events older than AUDIT_RETENTION_DAYS and only those', async () => {
    const day = 86_400_000;
    const now = Date.now();
    const at = (daysAgo: number) => auditEvent(null, { action: `test.${daysAgo}`, target: { type: 'Link', id: new Types.ObjectId() } }, new Date(now - daysAgo * day));
    await mongoose.connection.db!.collection('auditevents').insertMany([at(400), at(91), at(89), at(0)]);
    await purgeAuditEvents(90, new Date(now));
    const left = (await AuditEvent.find({ action: /^test\./ }).lean<AuditEventDoc[]>().exec()).map((e) => e.action).sort();
    expect(left).toEqual(['test.0', 'test.89']);
  });
});
