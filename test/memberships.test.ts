import pino from 'pino';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateUserRoles } from '../src/db/migrations.ts';
import { UserRoles } from '../src/models/user-roles.ts';
import { Membership, Workspace } from '../src/models/workspace.ts';
import type { UserDoc } from '../src/models/user.ts';
import { commandsDuring, createTestApp, gid, gql, LogCapture, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

// A user's roles are one document read by { _id: userId } (the embedded FerretDB answers only an
// exact { _id } filter from its index), kept in step with `memberships`, which stays the truth.

const { db, started } = useTestDatabase();
let t: TestApp;
beforeAll(() => {
  t = createTestApp(db());
});
afterAll(() => t.close());

/** The data commands `run` sends, with their bodies. */
const commandsOf = (run: () => Promise<unknown>) => commandsDuring(started, run);

/** The collections written, in order (`insert` / `update` / `delete` commands). */
const writes = (sent: { commandName: string; command: Record<string, any> }[]) =>
  sent.filter((c) => ['insert', 'update', 'delete'].includes(c.commandName)).map((c) => `${c.commandName} ${c.command[c.commandName]}`);

const rolesOf = async (user: UserDoc) => (await UserRoles.findById(user._id).lean().exec())?.roles ?? null;

const CREATE = 'mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { ... on WorkspacePayload { workspace { id } } } }';
const UPDATE = 'mutation($i: UpdateWorkspaceMemberInput!) { updateWorkspaceMember(input: $i) { __typename ... on WorkspaceMemberPayload { member { role } } } }';
const REMOVE = 'mutation($i: RemoveWorkspaceMemberInput!) { removeWorkspaceMember(input: $i) { __typename } }';
const DELETE = 'mutation($i: WorkspaceIdInput!) { deleteWorkspace(input: $i) { __typename } }';
const INVITE = 'mutation($i: InviteWorkspaceMemberInput!) { inviteWorkspaceMember(input: $i) { ... on WorkspaceInvitationPayload { invitation { id } } } }';
const ACCEPT = 'mutation($i: AcceptWorkspaceInvitationInput!) { acceptWorkspaceInvitation(input: $i) { __typename ... on WorkspaceMemberPayload { member { role } } } }';
const WORKSPACE = 'query($id: ID!) { workspace(id: $id) { name viewerRole } }';

describe('a workspace-scoped request reads the roles by primary key', () => {
  it('workspace(id:) and links(workspaceId:) read userroles by exactly { _id } and never scan memberships', async () => {
    const owner = await makeUser('owner');
    for (let i = 0; i < 3; i++) await makeWorkspace(await makeUser('other'), `other-${i}`); // other memberships in the collection
    const workspace = await makeWorkspace(owner, 'mine', [[await makeUser('friend'), 'MEMBER']]);
    const { secret } = await makeKey(owner);
    await gql(t.app, '{ viewer { key { id } } }', {}, { key: secret }); // warm the key cache

    for (const [query, variables] of [
      [WORKSPACE, { id: gid('Workspace', workspace._id) }],
      ['query($w: ID) { links(workspaceId: $w) { totalCount } }', { w: gid('Workspace', workspace._id) }],
    ] as const) {
      let body: any;
      const sent = await commandsOf(async () => {
        body = (await gql(t.app, query, variables, { key: secret })).body;
      });
      expect(body.errors).toBeUndefined();
      expect(sent.filter((c) => c.command.find === 'memberships' || c.command.aggregate === 'memberships' || c.command.count === 'memberships')).toEqual([]);
      const reads = sent.filter((c) => c.command.find === 'userroles');
      expect(reads).toHaveLength(1);
      expect(reads[0]!.command.filter).toEqual({ _id: owner._id });
    }
  });

  it('a user without a roles document (no workspace) sees no workspace', async () => {
    const user = await makeUser('lonely');
    const { secret } = await makeKey(user);
    const result = await gql(t.app, '{ workspaces { totalCount } }', {}, { key: secret });
    expect(result.body).toEqual({ data: { workspaces: { totalCount: 0 } } });
    expect(await rolesOf(user)).toBeNull();
  });
});

describe('the roles document follows the memberships', () => {
  it('createWorkspace: the membership is written first, then the role', async () => {
    const owner = await makeUser('creator');
    const { secret } = await makeKey(owner);
    let id = '';
    const sent = await commandsOf(async () => {
      id = (await gql(t.app, CREATE, { i: { name: 'Fresh' } }, { key: secret })).body.data.createWorkspace.workspace.id;
    });
    expect(writes(sent)).toEqual(['insert workspaces', 'insert memberships', 'update userroles', 'insert auditevents']);
    const raw = (await Workspace.findOne({ name: 'Fresh', createdByUserId: owner._id }).lean())!._id;
    expect(await rolesOf(owner)).toEqual({ [String(raw)]: 'OWNER' });
    expect((await gql(t.app, WORKSPACE, { id }, { key: secret })).body.data.workspace).toEqual({ name: 'Fresh', viewerRole: 'OWNER' });
  });

  it('accepting an invitation adds the role; a role change follows; a demotion lowers the roles document first', async () => {
    const owner = await makeUser('owner');
    const ownerKey = (await makeKey(owner)).secret;
    const workspace = await makeWorkspace(owner, 'team');
    const other = await makeWorkspace(owner, 'other');
    const workspaceId = gid('Workspace', workspace._id);
    const guest = await makeUser('guest');
    const guestKey = (await makeKey(guest)).secret;
    await makeWorkspace(guest, 'own');

    const invitation = (await gql(t.app, INVITE, { i: { workspaceId, email: guest.email, role: 'VIEWER' } }, { key: ownerKey })).body.data.inviteWorkspaceMember.invitation.id;
    const accepted = await commandsOf(async () => {
      expect((await gql(t.app, ACCEPT, { i: { invitationId: invitation } }, { key: guestKey })).body.data.acceptWorkspaceInvitation.member).toEqual({ role: 'VIEWER' });
    });
    expect(writes(accepted).filter((w) => w !== 'update workspaceinvitations')).toEqual(['insert memberships', 'update userroles', 'insert auditevents']);
    expect((await rolesOf(guest))![String(workspace._id)]).toBe('VIEWER');
    expect((await gql(t.app, WORKSPACE, { id: workspaceId }, { key: guestKey })).body.data.workspace.viewerRole).toBe('VIEWER');

    const member = (role: string) => ({ i: { workspaceId, userId: gid('User', guest._id), role } });
    const promoted = await commandsOf(async () => {
      expect((await gql(t.app, UPDATE, member('OWNER'), { key: ownerKey })).body.data.updateWorkspaceMember.member.role).toBe('OWNER');
    });
    expect(writes(promoted)).toEqual(['update memberships', 'update userroles', 'insert auditevents']);
    expect((await rolesOf(guest))![String(workspace._id)]).toBe('OWNER');

    const demoted = await commandsOf(async () => {
      expect((await gql(t.app, UPDATE, member('MEMBER'), { key: ownerKey })).body.data.updateWorkspaceMember.member.role).toBe('MEMBER');
    });
    expect(writes(demoted)).toEqual(['update userroles', 'update memberships', 'insert auditevents']);
    expect(await rolesOf(guest)).toEqual({ [String((await Workspace.findOne({ name: 'own', createdByUserId: guest._id }).lean())!._id)]: 'OWNER', [String(workspace._id)]: 'MEMBER' });
    // The owner's other workspaces are untouched.
    expect(await rolesOf(owner)).toEqual({ [String(workspace._id)]: 'OWNER', [String(other._id)]: 'OWNER' });
  });

  it('the last OWNER refused a demotion keeps OWNER in both places', async () => {
    const owner = await makeUser('alone');
    const ownerKey = (await makeKey(owner)).secret;
    const workspace = await makeWorkspace(owner, 'solo');
    const result = await gql(t.app, UPDATE, { i: { workspaceId: gid('Workspace', workspace._id), userId: gid('User', owner._id), role: 'VIEWER' } }, { key: ownerKey });
    expect(result.body.data.updateWorkspaceMember.__typename).toBe('ConflictError');
    expect(await rolesOf(owner)).toEqual({ [String(workspace._id)]: 'OWNER' });
    expect((await Membership.findOne({ workspaceId: workspace._id, userId: owner._id }).lean())!.role).toBe('OWNER');
  });

  it('removeWorkspaceMember removes the role first, then the membership', async () => {
    const owner = await makeUser('owner');
    const ownerKey = (await makeKey(owner)).secret;
    const leaver = await makeUser('leaver');
    const workspace = await makeWorkspace(owner, 'team', [[leaver, 'MEMBER']]);
    const kept = await makeWorkspace(leaver, 'kept');
    const sent = await commandsOf(async () => {
      const result = await gql(t.app, REMOVE, { i: { workspaceId: gid('Workspace', workspace._id), userId: gid('User', leaver._id) } }, { key: ownerKey });
      expect(result.body.data.removeWorkspaceMember.__typename).toBe('DeletePayload');
    });
    expect(writes(sent)).toEqual(['update userroles', 'delete memberships', 'insert auditevents']);
    expect(await rolesOf(leaver)).toEqual({ [String(kept._id)]: 'OWNER' });
    const leaverKey = (await makeKey(leaver)).secret;
    expect((await gql(t.app, WORKSPACE, { id: gid('Workspace', workspace._id) }, { key: leaverKey })).body.data.workspace).toBeNull();
  });

  it('deleteWorkspace removes the role of every member before their memberships', async () => {
    const owner = await makeUser('owner');
    const ownerKey = (await makeKey(owner)).secret;
    const a = await makeUser('a');
    const b = await makeUser('b');
    const workspace = await makeWorkspace(owner, 'doomed', [[a, 'MEMBER'], [b, 'VIEWER']]);
    const survivor = await makeWorkspace(a, 'survivor');
    const sent = await commandsOf(async () => {
      expect((await gql(t.app, DELETE, { i: { id: gid('Workspace', workspace._id) } }, { key: ownerKey })).body.data.deleteWorkspace.__typename).toBe('DeletePayload');
    });
    const order = writes(sent);
    expect(order.indexOf('update userroles')).toBeGreaterThan(order.indexOf('delete workspaces'));
    expect(order.lastIndexOf('update userroles')).toBeLessThan(order.indexOf('delete memberships'));
    expect(await rolesOf(owner)).toEqual({});
    expect(await rolesOf(a)).toEqual({ [String(survivor._id)]: 'OWNER' });
    expect(await rolesOf(b)).toEqual({});
    expect(await Membership.countDocuments({ workspaceId: workspace._id })).toBe(0);
  });
});

describe('migration from memberships only', () => {
  it('builds every user’s roles document from the memberships; idempotent, recorded, logged', async () => {
    const alice = await makeUser('alice');
    const bob = await makeUser('bob');
    const aliceKey = (await makeKey(alice)).secret;
    const [w1, w2] = [new Types.ObjectId(), new Types.ObjectId()];
    await Workspace.collection.insertMany([
      { _id: w1, name: 'old-1', createdByUserId: alice._id, createdAt: new Date(), updatedAt: new Date() },
      { _id: w2, name: 'old-2', createdByUserId: bob._id, createdAt: new Date(), updatedAt: new Date() },
    ]);
    // The old way: memberships only, written straight to the collection.
    const at = { createdAt: new Date(), updatedAt: new Date() };
    await Membership.collection.insertMany([
      { workspaceId: w1, userId: alice._id, role: 'OWNER', ...at },
      { workspaceId: w2, userId: bob._id, role: 'OWNER', ...at },
      { workspaceId: w2, userId: alice._id, role: 'VIEWER', ...at },
    ]);
    expect((await gql(t.app, WORKSPACE, { id: gid('Workspace', w1) }, { key: aliceKey })).body.data.workspace).toBeNull();

    const logs = new LogCapture();
    const logger = pino({ level: 'info' }, logs);
    const created = await migrateUserRoles(logger, { force: true });
    expect(created).toBe(2); // alice and bob: every other user of this file already has one, or no workspace
    expect(logs.text).toContain('"roleDocuments"');
    expect(await rolesOf(alice)).toEqual({ [String(w1)]: 'OWNER', [String(w2)]: 'VIEWER' });
    expect(await rolesOf(bob)).toEqual({ [String(w2)]: 'OWNER' });
    expect((await gql(t.app, WORKSPACE, { id: gid('Workspace', w2) }, { key: aliceKey })).body.data.workspace).toEqual({ name: 'old-2', viewerRole: 'VIEWER' });

    // Again, as after a crash before the run was recorded: nothing new, nothing overwritten.
    expect(await migrateUserRoles(logger, { force: true })).toBe(0);
    expect(await rolesOf(alice)).toEqual({ [String(w1)]: 'OWNER', [String(w2)]: 'VIEWER' });
    // Recorded as done: a plain run (every start) does nothing.
    expect(await migrateUserRoles(logger)).toBe(0);
  });
});
