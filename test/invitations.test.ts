import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Invitation, invitationId } from '../src/models/invitation.ts';
import type { UserDoc } from '../src/models/user.ts';
import { Membership, type WorkspaceDoc } from '../src/models/workspace.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
beforeAll(() => {
  t = createTestApp(db());
});
afterAll(() => t.close());

const INVITE = `mutation($i: InviteWorkspaceMemberInput!) { inviteWorkspaceMember(input: $i) { __typename
  ... on WorkspaceInvitationPayload { invitation { id email role status expiresAt createdAt invitedBy { name email } workspace { id name } workspaceName } }
  ... on Error { code message } ... on ValidationError { field } } }`;
const ACCEPT = `mutation($i: AcceptWorkspaceInvitationInput!) { acceptWorkspaceInvitation(input: $i) { __typename
  ... on WorkspaceMemberPayload { member { role user { email } } } ... on Error { code message } } }`;
const REVOKE = `mutation($i: WorkspaceInvitationIdInput!) { revokeWorkspaceInvitation(input: $i) { __typename
  ... on WorkspaceInvitationPayload { invitation { id status } } ... on Error { code message } } }`;
const MINE = '{ viewer { invitations { id email role status workspace { id } workspaceName invitedBy { email } } } }';
const LIST = 'query($w: ID!, $s: WorkspaceInvitationStatus) { workspace(id: $w) { invitations(status: $s) { totalCount edges { node { id email status } } } } }';

/** Removes what names the particular request (ids, instants, the invited address) so two answers can be compared. */
const normalize = (body: unknown, ...words: string[]) => {
  let text = JSON.stringify(body)
    .replace(/"[A-Za-z0-9+/=]{20,}"/g, '"<id>"')
    .replace(/\d{4}-\d{2}-\d{2}T[\d:.]+Z/g, '<instant>');
  for (const word of words) text = text.split(word).join('<word>');
  return text;
};

const tag = () => randomBytes(4).toString('hex');

interface Team {
  owner: UserDoc;
  ownerKey: string;
  workspace: WorkspaceDoc;
  workspaceId: string;
}

async function team(): Promise<Team> {
  const owner = await makeUser('owner');
  const workspace = await makeWorkspace(owner, `team-${tag()}`);
  return { owner, ownerKey: (await makeKey(owner)).secret, workspace, workspaceId: gid('Workspace', workspace._id) };
}

const invite = (team: Team, email: string, role = 'MEMBER') => gql(t.app, INVITE, { i: { workspaceId: team.workspaceId, email, role } }, { key: team.ownerKey });
const accept = (key: string, id: string) => gql(t.app, ACCEPT, { i: { invitationId: id } }, { key });

describe('inviteWorkspaceMember', () => {
  it('answers the same whether the address has an account, has none, or is already a member', async () => {
    const w = await team();
    const known = await makeUser('known');
    const member = await makeUser('member');
    await Membership.create({ workspaceId: w.workspace._id, userId: member._id, role: 'VIEWER' });
    const unknown = `nobody-${tag()}@example.com`;

    const answers = [];
    for (const email of [known.email, unknown, member.email]) {
      const result = await invite(w, email);
      expect(result.body.errors).toBeUndefined();
      expect(result.body.data.inviteWorkspaceMember).toMatchObject({ __typename: 'WorkspaceInvitationPayload', invitation: { email, status: 'PENDING', role: 'MEMBER' } });
      answers.push(normalize(result.body, email));
    }
    expect(answers[1]).toBe(answers[0]);
    expect(answers[2]).toBe(answers[0]);
    // Nothing but the invitation is written: no account is looked up or created, no membership added.
    expect(await Membership.countDocuments({ workspaceId: w.workspace._id })).toBe(2);
  });

  it('normalizes the address; inviting it again while pending re-sends the same invitation', async () => {
    const w = await team();
    const email = `Mixed.Case-${tag()}@Example.COM`;
    const first = (await invite(w, `  ${email} `, 'VIEWER')).body.data.inviteWorkspaceMember.invitation;
    expect(first.email).toBe(email.toLowerCase());
    expect(first.invitedBy).toEqual({ name: w.owner.name, email: w.owner.email });
    expect(first.workspace.id).toBe(w.workspaceId);
    expect(new Date(first.expiresAt).getTime() - new Date(first.createdAt).getTime()).toBe(7 * 24 * 3600 * 1000);

    const again = (await invite(w, email.toLowerCase(), 'MEMBER')).body.data.inviteWorkspaceMember.invitation;
    expect(again.id).toBe(first.id);
    expect(again.role).toBe('MEMBER');
    expect(new Date(again.expiresAt).getTime()).toBeGreaterThanOrEqual(new Date(first.expiresAt).getTime());
    expect(await Invitation.countDocuments({ workspaceId: w.workspace._id })).toBe(1);
  });

  it('two invitations of one address at once make one record with one id', async () => {
    const w = await team();
    const email = `twice-${tag()}@example.com`;
    const results = await Promise.all([invite(w, email), invite(w, email, 'VIEWER'), invite(w, email)]);
    const ids = results.map((r) => r.body.data.inviteWorkspaceMember.invitation?.id);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBeTypeOf('string');
    expect(await Invitation.countDocuments({ workspaceId: w.workspace._id })).toBe(1);
  });

  it('a malformed address is a ValidationError; an invisible workspace a NotFoundError like an unknown one', async () => {
    const w = await team();
    const bad = await invite(w, 'not-an-address');
    expect(bad.body.data.inviteWorkspaceMember).toMatchObject({ __typename: 'ValidationError', field: 'input.email', code: 'BAD_USER_INPUT' });
    expect(bad.body.data.inviteWorkspaceMember.message).toContain('not-an-address');

    const other = await team();
    const foreign = await gql(t.app, INVITE, { i: { workspaceId: other.workspaceId, email: 'x@example.com', role: 'VIEWER' } }, { key: w.ownerKey });
    const ghost = await gql(t.app, INVITE, { i: { workspaceId: gid('Workspace', randomBytes(12).toString('hex')), email: 'x@example.com', role: 'VIEWER' } }, { key: w.ownerKey });
    expect(foreign.body.data.inviteWorkspaceMember.__typename).toBe('NotFoundError');
    expect(normalize(foreign.body)).toBe(normalize(ghost.body));
    expect(await Invitation.countDocuments({ workspaceId: other.workspace._id })).toBe(0);
  });
});

describe('the invitee', () => {
  it('sees the invitation in viewer.invitations, accepts it, and is then a member with its role', async () => {
    const w = await team();
    const carol = await makeUser('carol');
    const carolKey = (await makeKey(carol)).secret;
    const sent = (await invite(w, carol.email.toUpperCase(), 'MEMBER')).body.data.inviteWorkspaceMember.invitation;

    const mine = await gql(t.app, MINE, {}, { key: carolKey });
    expect(mine.body).toEqual({
      data: {
        viewer: {
          invitations: [{ id: sent.id, email: carol.email, role: 'MEMBER', status: 'PENDING', workspace: null, workspaceName: w.workspace.name, invitedBy: { email: w.owner.email } }],
        },
      },
    });
    // By id too, while it is pending.
    const byId = await gql(t.app, 'query($id: ID!) { node(id: $id) { id ... on WorkspaceInvitation { status } } }', { id: sent.id }, { key: carolKey });
    expect(byId.body).toEqual({ data: { node: { id: sent.id, status: 'PENDING' } } });

    const accepted = await accept(carolKey, sent.id);
    expect(accepted.body.data.acceptWorkspaceInvitation).toEqual({ __typename: 'WorkspaceMemberPayload', member: { role: 'MEMBER', user: { email: carol.email } } });
    expect(await Membership.findOne({ workspaceId: w.workspace._id, userId: carol._id }).lean()).toMatchObject({ role: 'MEMBER' });

    const after = await gql(t.app, `query($w: ID!) { workspace(id: $w) { viewerRole } ${MINE.slice(1, -1)} }`, { w: w.workspaceId }, { key: carolKey });
    expect(after.body.data).toEqual({ workspace: { viewerRole: 'MEMBER' }, viewer: { invitations: [] } });
    const listed = await gql(t.app, LIST, { w: w.workspaceId, s: 'ACCEPTED' }, { key: w.ownerKey });
    expect(listed.body.data.workspace.invitations.edges.map((e: any) => e.node)).toEqual([{ id: sent.id, email: carol.email, status: 'ACCEPTED' }]);

    // Used up: accepting it again is not found.
    expect((await accept(carolKey, sent.id)).body.data.acceptWorkspaceInvitation.__typename).toBe('NotFoundError');
  });

  it('already a member: the invitation is used up and the membership stays as it is', async () => {
    const w = await team();
    const dan = await makeUser('dan');
    await Membership.create({ workspaceId: w.workspace._id, userId: dan._id, role: 'VIEWER' });
    const sent = (await invite(w, dan.email, 'OWNER')).body.data.inviteWorkspaceMember.invitation;
    const accepted = await accept((await makeKey(dan)).secret, sent.id);
    expect(accepted.body.data.acceptWorkspaceInvitation.member).toEqual({ role: 'VIEWER', user: { email: dan.email } });
    expect(await Membership.countDocuments({ workspaceId: w.workspace._id, userId: dan._id })).toBe(1);
    expect((await Invitation.findById(invitationId(w.workspace._id, dan.email)).lean())!.status).toBe('ACCEPTED');
  });

  it('someone else, an expired, a revoked, a used and an unknown invitation all answer the same NotFoundError', async () => {
    const w = await team();
    const erin = await makeUser('erin');
    const erinKey = (await makeKey(erin)).secret;
    const frank = await makeUser('frank');
    const frankKey = (await makeKey(frank)).secret;

    const forFrank = (await invite(w, frank.email)).body.data.inviteWorkspaceMember.invitation.id;
    const someoneElses = await accept(erinKey, forFrank);

    // Expired: sent eight days ago, straight into the database.
    const now = Date.now();
    const expiredDoc = await Invitation.create({
      _id: invitationId(w.workspace._id, erin.email),
      workspaceId: w.workspace._id,
      email: erin.email,
      role: 'MEMBER',
      status: 'PENDING',
      invitedByUserId: w.owner._id,
      createdAt: new Date(now - 8 * 86_400_000),
      expiresAt: new Date(now - 86_400_000),
      updatedAt: new Date(now - 8 * 86_400_000),
    });
    const expiredId = gid('WorkspaceInvitation', expiredDoc._id);
    expect((await gql(t.app, MINE, {}, { key: erinKey })).body.data.viewer.invitations).toEqual([]);
    const listed = await gql(t.app, LIST, { w: w.workspaceId, s: 'EXPIRED' }, { key: w.ownerKey });
    expect(listed.body.data.workspace.invitations.edges.map((e: any) => e.node)).toEqual([{ id: expiredId, email: erin.email, status: 'EXPIRED' }]);
    const pending = await gql(t.app, LIST, { w: w.workspaceId, s: 'PENDING' }, { key: w.ownerKey });
    expect(pending.body.data.workspace.invitations.edges.map((e: any) => e.node.id)).toEqual([forFrank]);
    const expired = await accept(erinKey, expiredId);

    const other = await team();
    const revokedId = (await invite(other, erin.email)).body.data.inviteWorkspaceMember.invitation.id;
    expect((await gql(t.app, REVOKE, { i: { id: revokedId } }, { key: other.ownerKey })).body.data.revokeWorkspaceInvitation.invitation.status).toBe('REVOKED');
    const revoked = await accept(erinKey, revokedId);

    const third = await team();
    const usedId = (await invite(third, frank.email)).body.data.inviteWorkspaceMember.invitation.id;
    expect((await accept(frankKey, usedId)).body.data.acceptWorkspaceInvitation.__typename).toBe('WorkspaceMemberPayload');
    const used = await accept(frankKey, usedId);

    const unknown = await accept(erinKey, gid('WorkspaceInvitation', randomBytes(12).toString('hex')));

    expect(unknown.body.data.acceptWorkspaceInvitation.__typename).toBe('NotFoundError');
    for (const answer of [someoneElses, expired, revoked, used]) expect(normalize(answer.body)).toBe(normalize(unknown.body));
    expect(await Membership.countDocuments({ userId: erin._id })).toBe(0);
    expect((await Invitation.findById(invitationId(w.workspace._id, frank.email)).lean())!.status).toBe('PENDING');
  });

  it('the new membership is returned even when the same request loaded the memberships before joining', async () => {
    const w = await team();
    const lou = await makeUser('lou');
    const own = await makeWorkspace(lou, 'lou');
    const id = (await invite(w, lou.email, 'VIEWER')).body.data.inviteWorkspaceMember.invitation.id;
    const result = await gql(
      t.app,
      `mutation($u: UpdateWorkspaceInput!, $a: AcceptWorkspaceInvitationInput!) {
        updateWorkspace(input: $u) { __typename }
        acceptWorkspaceInvitation(input: $a) { __typename ... on WorkspaceMemberPayload { member { role user { email } } } } }`,
      { u: { id: gid('Workspace', own._id), name: 'renamed' }, a: { invitationId: id } },
      { key: (await makeKey(lou)).secret },
    );
    expect(result.body).toEqual({
      data: {
        updateWorkspace: { __typename: 'WorkspacePayload' },
        acceptWorkspaceInvitation: { __typename: 'WorkspaceMemberPayload', member: { role: 'VIEWER', user: { email: lou.email } } },
      },
    });
  });

  it('malformed invitation ids are a ValidationError naming the field', async () => {
    const w = await team();
    const result = await accept(w.ownerKey, 'not-an-id');
    expect(result.body.data.acceptWorkspaceInvitation).toMatchObject({ __typename: 'ValidationError', code: 'BAD_USER_INPUT' });
    expect(result.body.data.acceptWorkspaceInvitation.message).toContain('input.invitationId');
    const revoke = await gql(t.app, REVOKE, { i: { id: gid('Workspace', w.workspace._id) } }, { key: w.ownerKey });
    expect(revoke.body.data.revokeWorkspaceInvitation).toMatchObject({ __typename: 'ValidationError', code: 'BAD_USER_INPUT' });
    const node = await gql(t.app, 'query($id: ID!) { node(id: $id) { id } }', { id: Buffer.from('WorkspaceInvitation:nope').toString('base64') }, { key: w.ownerKey });
    expect(node.status).toBe(200);
    expect(JSON.stringify(node.body)).not.toContain('INTERNAL');
  });

  it('two accepts at once: one membership, the other answer is NotFoundError', async () => {
    const w = await team();
    const gina = await makeUser('gina');
    const key = (await makeKey(gina)).secret;
    const id = (await invite(w, gina.email)).body.data.inviteWorkspaceMember.invitation.id;
    const results = await Promise.all([accept(key, id), accept(key, id)]);
    const kinds = results.map((r) => r.body.data.acceptWorkspaceInvitation.__typename).sort();
    expect(kinds).toEqual(['NotFoundError', 'WorkspaceMemberPayload']);
    expect(await Membership.countDocuments({ workspaceId: w.workspace._id, userId: gina._id })).toBe(1);
  });
});

describe('keys of the invitee', () => {
  it('need workspaces:read to see invitations and workspaces:write to accept; a restricted key only sees and joins its workspaces', async () => {
    const w = await team();
    const hal = await makeUser('hal');
    const id = (await invite(w, hal.email)).body.data.inviteWorkspaceMember.invitation.id;

    const linksOnly = (await makeKey(hal, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'WRITE' }] })).secret;
    const seen = await gql(t.app, '{ viewer { user { email } invitations { id } } }', {}, { key: linksOnly });
    expect(seen.body.data.viewer).toEqual({ user: { email: hal.email }, invitations: null });
    expect(seen.body.errors?.map((e) => e.extensions)).toEqual([expect.objectContaining({ code: 'FORBIDDEN', requiredPermission: 'workspaces:read' })]);

    const readOnly = (await makeKey(hal, 'READ_ONLY')).secret;
    expect((await gql(t.app, MINE, {}, { key: readOnly })).body.data.viewer.invitations).toHaveLength(1);
    const refused = await accept(readOnly, id);
    expect(refused.body.data.acceptWorkspaceInvitation).toBeNull();
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', requiredPermission: 'workspaces:write' });

    const own = await makeWorkspace(hal, 'hal');
    const restricted = (await makeKey(hal, 'FULL', { workspaces: [own._id] })).secret;
    expect((await gql(t.app, MINE, {}, { key: restricted })).body.data.viewer.invitations).toEqual([]);
    const restrictedAccept = await accept(restricted, id);
    expect(restrictedAccept.body.data.acceptWorkspaceInvitation.__typename).toBe('NotFoundError');
    expect(await Membership.countDocuments({ workspaceId: w.workspace._id, userId: hal._id })).toBe(0);

    const full = (await makeKey(hal)).secret;
    expect((await accept(full, id)).body.data.acceptWorkspaceInvitation.__typename).toBe('WorkspaceMemberPayload');
  });
});

describe('revokeWorkspaceInvitation', () => {
  it('an OWNER revokes (twice is harmless); a revoked one is gone for the invitee; an accepted one cannot be revoked', async () => {
    const w = await team();
    const ivy = await makeUser('ivy');
    const ivyKey = (await makeKey(ivy)).secret;
    const id = (await invite(w, ivy.email)).body.data.inviteWorkspaceMember.invitation.id;
    for (let i = 0; i < 2; i++) {
      const revoked = await gql(t.app, REVOKE, { i: { id } }, { key: w.ownerKey });
      expect(revoked.body.data.revokeWorkspaceInvitation).toEqual({ __typename: 'WorkspaceInvitationPayload', invitation: { id, status: 'REVOKED' } });
    }
    expect((await gql(t.app, MINE, {}, { key: ivyKey })).body.data.viewer.invitations).toEqual([]);
    const byId = await gql(t.app, 'query($id: ID!) { node(id: $id) { id } }', { id }, { key: ivyKey });
    expect(byId.body).toEqual({ data: { node: null } });

    // Re-inviting re-opens it.
    expect((await invite(w, ivy.email)).body.data.inviteWorkspaceMember.invitation).toMatchObject({ id, status: 'PENDING' });
    expect((await accept(ivyKey, id)).body.data.acceptWorkspaceInvitation.__typename).toBe('WorkspaceMemberPayload');
    const late = await gql(t.app, REVOKE, { i: { id } }, { key: w.ownerKey });
    expect(late.body.data.revokeWorkspaceInvitation).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    expect(late.body.data.revokeWorkspaceInvitation.message).toContain('removeWorkspaceMember');
  });

  it('a MEMBER may not revoke; the invitee cannot revoke their own either', async () => {
    const w = await team();
    const jo = await makeUser('jo');
    await Membership.create({ workspaceId: w.workspace._id, userId: jo._id, role: 'MEMBER' });
    const kim = await makeUser('kim');
    const id = (await invite(w, kim.email)).body.data.inviteWorkspaceMember.invitation.id;
    const byMember = await gql(t.app, REVOKE, { i: { id } }, { key: (await makeKey(jo)).secret });
    expect(byMember.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', requiredPermission: 'workspaces:write' });
    const byInvitee = await gql(t.app, REVOKE, { i: { id } }, { key: (await makeKey(kim)).secret });
    expect(byInvitee.body.data.revokeWorkspaceInvitation.__typename).toBe('NotFoundError');
    expect((await Invitation.findOne({ workspaceId: w.workspace._id }).lean())!.status).toBe('PENDING');
  });
});

describe('tenant isolation of invitations', () => {
  it('a foreign workspace’s invitation is null by node(id:), not found to revoke or accept, and absent from lists', async () => {
    const mine = await team();
    const theirs = await team();
    const foreignId = (await invite(theirs, `lee-${tag()}@example.com`)).body.data.inviteWorkspaceMember.invitation.id;
    const ghostId = gid('WorkspaceInvitation', randomBytes(12).toString('hex'));
    await invite(mine, `own-${tag()}@example.com`);

    const node = await gql(t.app, 'query($id: ID!) { node(id: $id) { id } }', { id: foreignId }, { key: mine.ownerKey });
    expect(node.body).toEqual({ data: { node: null } });
    for (const [document, input] of [[REVOKE, { id: foreignId }], [ACCEPT, { invitationId: foreignId }]] as const) {
      const onForeign = await gql(t.app, document, { i: input }, { key: mine.ownerKey });
      const onGhost = await gql(t.app, document, { i: 'id' in input ? { id: ghostId } : { invitationId: ghostId } }, { key: mine.ownerKey });
      expect(JSON.stringify(onForeign.body)).toContain('NotFoundError');
      expect(normalize(onForeign.body)).toBe(normalize(onGhost.body));
    }
    const list = await gql(t.app, LIST, { w: mine.workspaceId }, { key: mine.ownerKey });
    expect(list.body.data.workspace.invitations.totalCount).toBe(1);
    expect((await Invitation.findOne({ workspaceId: theirs.workspace._id }).lean())!.status).toBe('PENDING');
  });

  it('a VIEWER member sees the invitations of the workspace; a LIMITED links:read key does not', async () => {
    const w = await team();
    const viewer = await makeUser('viewer');
    await Membership.create({ workspaceId: w.workspace._id, userId: viewer._id, role: 'VIEWER' });
    const secret = `mo-${tag()}@example.com`;
    await invite(w, secret);
    const asViewer = await gql(t.app, LIST, { w: w.workspaceId }, { key: (await makeKey(viewer, 'READ_ONLY')).secret });
    expect(asViewer.body.data.workspace.invitations.edges.map((e: any) => e.node.email)).toEqual([secret]);
    const limited = (await makeKey(viewer, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }] })).secret;
    const viaViewer = await gql(t.app, '{ viewer { workspaces { workspace { invitations { totalCount edges { node { email } } } } } } }', {}, { key: limited });
    expect(JSON.stringify(viaViewer.body)).not.toContain(secret);
    expect(viaViewer.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', requiredPermission: 'workspaces:read' });
  });
});
