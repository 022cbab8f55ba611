import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickDay, linkDayId, workspaceDayId } from '../src/models/click-day.ts';
import { Invitation } from '../src/models/invitation.ts';
import { Link } from '../src/models/link.ts';
import { Membership, Workspace } from '../src/models/workspace.ts';
import { createTestApp, gid, gql, makeKey, makeUser, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
beforeAll(() => {
  t = createTestApp(db());
});
afterAll(() => t.close());

const CREATE = 'mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { __typename ... on WorkspacePayload { workspace { id name viewerRole } } ... on ValidationError { field } } }';
const MEMBER = (field: string, input: string) =>
  `mutation($i: ${input}!) { ${field}(input: $i) { __typename ${
    field === 'removeWorkspaceMember' ? '... on DeletePayload { deletedId }' : '... on WorkspaceMemberPayload { member { role user { email } } }'
  } ... on Error { code message } } }`;

describe('workspaces and members', () => {
  it('the creator becomes OWNER; names are validated', async () => {
    const { secret } = await makeKey(await makeUser());
    const created = await gql(t.app, CREATE, { i: { name: '  Marketing ' } }, { key: secret });
    expect(created.body.data.createWorkspace.workspace).toMatchObject({ name: 'Marketing', viewerRole: 'OWNER' });
    const blank = await gql(t.app, CREATE, { i: { name: '   ' } }, { key: secret });
    expect(blank.body.data.createWorkspace).toEqual({ __typename: 'ValidationError', field: 'input.name' });
  });

  it('a key restricted to some workspaces cannot create one, and is told why; without workspaces:write it is told that first', async () => {
    const user = await makeUser();
    const own = await makeKey(user);
    await gql(t.app, CREATE, { i: { name: 'Mine' } }, { key: own.secret });
    const raw = (await Workspace.findOne({ name: 'Mine' }).lean())!._id;
    const restricted = await makeKey(user, 'FULL', { workspaces: [raw] });
    const refused = await gql(t.app, CREATE, { i: { name: 'More' } }, { key: restricted.secret });
    expect(refused.body.data.createWorkspace).toBeNull();
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', requiredPermission: 'workspaces:write' });
    expect(refused.body.errors?.[0]?.message).toContain('restricted to some workspaces');
    const readOnly = await makeKey(user, 'READ_ONLY', { workspaces: [raw] });
    const lacking = await gql(t.app, CREATE, { i: { name: 'More' } }, { key: readOnly.secret });
    expect(lacking.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', requiredPermission: 'workspaces:write' });
    expect(lacking.body.errors?.[0]?.message).toContain('lacks the workspaces:write permission');
    expect(await Workspace.countDocuments({ name: 'More' })).toBe(0);
  });

  it('changes roles and never loses the last OWNER', async () => {
    const owner = await makeUser('owner');
    const friend = await makeUser('friend');
    const { secret } = await makeKey(owner);
    const workspaceId = (await gql(t.app, CREATE, { i: { name: 'Team' } }, { key: secret })).body.data.createWorkspace.workspace.id;
    const raw = (await Workspace.findOne({ name: 'Team' }).lean())!._id;
    await Membership.create({ workspaceId: raw, userId: friend._id, role: 'MEMBER' });

    const demote = await gql(t.app, MEMBER('updateWorkspaceMember', 'UpdateWorkspaceMemberInput'), { i: { workspaceId, userId: gid('User', owner._id), role: 'MEMBER' } }, { key: secret });
    expect(demote.body.data.updateWorkspaceMember.__typename).toBe('ConflictError');
    expect(demote.body.data.updateWorkspaceMember.message).toContain('last OWNER');
    const leave = await gql(t.app, MEMBER('removeWorkspaceMember', 'RemoveWorkspaceMemberInput'), { i: { workspaceId, userId: gid('User', owner._id) } }, { key: secret });
    expect(leave.body.data.removeWorkspaceMember.__typename).toBe('ConflictError');

    const promote = await gql(t.app, MEMBER('updateWorkspaceMember', 'UpdateWorkspaceMemberInput'), { i: { workspaceId, userId: gid('User', friend._id), role: 'OWNER' } }, { key: secret });
    expect(promote.body.data.updateWorkspaceMember.member.role).toBe('OWNER');
    const leaveNow = await gql(t.app, MEMBER('removeWorkspaceMember', 'RemoveWorkspaceMemberInput'), { i: { workspaceId, userId: gid('User', owner._id) } }, { key: secret });
    expect(leaveNow.body.data.removeWorkspaceMember).toEqual({ __typename: 'DeletePayload', deletedId: gid('User', owner._id) });
    // Gone from the workspace: now it is invisible to the former owner.
    expect((await gql(t.app, 'query($id: ID!) { workspace(id: $id) { id } }', { id: workspaceId }, { key: secret })).body.data.workspace).toBeNull();
  });

  it('deleteWorkspace removes everything in it, and keys restricted to it then see nothing', async () => {
    const owner = await makeUser('owner');
    const { secret } = await makeKey(owner);
    const workspaceId = (await gql(t.app, CREATE, { i: { name: 'Doomed' } }, { key: secret })).body.data.createWorkspace.workspace.id;
    const raw = (await Workspace.findOne({ name: 'Doomed' }).lean())!._id;
    const otherId = (await gql(t.app, CREATE, { i: { name: 'Survivor' } }, { key: secret })).body.data.createWorkspace.workspace.id;
    await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }', { i: { workspaceId, url: 'https://x.example/' } }, { key: secret });
    await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }', { i: { workspaceId: otherId, url: 'https://y.example/' } }, { key: secret });
    await gql(t.app, 'mutation($i: InviteWorkspaceMemberInput!) { inviteWorkspaceMember(input: $i) { __typename } }', { i: { workspaceId, email: 'guest@example.com', role: 'VIEWER' } }, { key: secret });
    expect(await Invitation.countDocuments({ workspaceId: raw })).toBe(1);
    await ClickDay.create({ _id: linkDayId(raw, '2026-01-01'), workspaceId: raw, linkId: raw, day: '2026-01-01', clicks: 3 });
    await ClickDay.create({ _id: workspaceDayId(raw, '2026-01-01'), workspaceId: raw, day: '2026-01-01', clicks: 3 });
    const restricted = await makeKey(owner, 'FULL', { workspaces: [raw] });

    const result = await gql(t.app, 'mutation($i: WorkspaceIdInput!) { deleteWorkspace(input: $i) { ... on DeletePayload { deletedId } } }', { i: { id: workspaceId } }, { key: secret });
    expect(result.body.data.deleteWorkspace.deletedId).toBe(workspaceId);
    for (const model of [Link, ClickDay, Membership, Invitation] as const) expect(await (model as typeof Link).countDocuments({ workspaceId: raw })).toBe(0);
    expect(await Workspace.countDocuments({ _id: raw })).toBe(0);
    const seen = await gql(t.app, '{ workspaces { totalCount } links { totalCount } }', {}, { key: restricted.secret });
    expect(seen.body.data).toEqual({ workspaces: { totalCount: 0 }, links: { totalCount: 0 } });
  });
});

describe('owners under concurrency', () => {
  it('two OWNERs demoting each other at once never leave the workspace without an OWNER', async () => {
    const a = await makeUser('a');
    const b = await makeUser('b');
    const keyA = (await makeKey(a)).secret;
    const keyB = (await makeKey(b)).secret;
    const workspaceId = (await gql(t.app, CREATE, { i: { name: 'Duo' } }, { key: keyA })).body.data.createWorkspace.workspace.id;
    await Membership.create({ workspaceId: (await Workspace.findOne({ name: 'Duo' }).lean())!._id, userId: b._id, role: 'OWNER' });
    const demote = (key: string, user: typeof a) =>
      gql(t.app, MEMBER('updateWorkspaceMember', 'UpdateWorkspaceMemberInput'), { i: { workspaceId, userId: gid('User', user._id), role: 'VIEWER' } }, { key });
    const results = await Promise.all([demote(keyA, b), demote(keyB, a)]);
    const raw = (await Workspace.findOne({ name: 'Duo' }).lean())!._id;
    const outcomes = results.map((r) => r.body.data.updateWorkspaceMember.__typename as string);
    // Interleaved, both are refused (each undoes its own demotion); one after the other, the second is.
    expect(outcomes.every((o) => o === 'WorkspaceMemberPayload' || o === 'ConflictError')).toBe(true);
    expect(outcomes.filter((o) => o === 'WorkspaceMemberPayload').length).toBeLessThanOrEqual(1);
    const owners = await Membership.countDocuments({ workspaceId: raw, role: 'OWNER' });
    expect(owners).toBeGreaterThanOrEqual(1);
    expect(owners).toBe(2 - outcomes.filter((o) => o === 'WorkspaceMemberPayload').length);
  });
});
