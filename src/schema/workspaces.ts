import { keyAllowsWorkspace } from '../rules/permissions.ts';
import type { Context } from '../context.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { listWorkspaceMembers, removeWorkspaceMember, updateWorkspaceMember, type MembershipDoc } from '../core/members.ts';
import { createWorkspace, deleteWorkspace, listWorkspaces, updateWorkspace, type WorkspaceDoc } from '../core/workspaces.ts';
import { builder } from './builder.ts';
import { RoleEnum } from './enums.ts';
import { mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg } from './guards.ts';
import { parseIdArg, toGlobalId } from './ids.ts';
import { loadAll, loadByGlobalId } from './loaders.ts';
import { connectionType, paginateListing } from './pagination.ts';
import { ownUserOrPersonalData, PERSONAL_DATA, UserRef } from './users.ts';
import { WorkspaceRef } from './workspace-ref.ts';

builder.node(WorkspaceRef, {
  description: 'A team space that owns projects, links, domains and their analytics.',
  authScopes: (workspace) => ({ visibleWorkspace: String(workspace._id) }),
  id: { resolve: (workspace) => String(workspace._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.workspace, ids),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The workspace name.' }),
    viewerRole: t.field({
      type: RoleEnum,
      description: "The role of the calling key's user in this workspace.",
      resolve: async (workspace, _args, ctx) => (await ctx.memberships()).get(String(workspace._id))!,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed.' }),
  }),
});

export const MemberRef = builder.objectRef<MembershipDoc>('WorkspaceMember').implement({
  description: "A user's membership of a workspace (personal data: workspaces:read).",
  // One's own membership is visible even when this request's cached memberships predate it (acceptWorkspaceInvitation).
  authScopes: (member, ctx) =>
    ctx.key !== null && String(member.userId) === ctx.key.userId && keyAllowsWorkspace(ctx.key.grant, String(member.workspaceId))
      ? PERSONAL_DATA
      : { ...PERSONAL_DATA, visibleWorkspace: String(member.workspaceId) },
  fields: (t) => ({
    user: t.field({
      type: UserRef,
      description: 'The member.',
      authScopes: ownUserOrPersonalData((member) => member.userId),
      resolve: async (member, _args, ctx) => (await ctx.loaders.user.load(String(member.userId)))!,
    }),
    role: t.expose('role', { type: RoleEnum, description: 'Their role: what they may change.' }),
    joinedAt: t.expose('createdAt', { type: 'DateTime', description: 'When they were added.' }),
  }),
});

/** Personal data of one workspace: workspaces:read from the key and from the role there. */
export const personalDataIn = (workspace: WorkspaceDoc) => ({
  ...PERSONAL_DATA,
  workspaceRole: { workspaceId: String(workspace._id), resource: 'WORKSPACES' as const, level: 'READ' as const },
});

const memberConnection = connectionType(MemberRef, 'WorkspaceMember', 'workspace members');
builder.objectField(WorkspaceRef, 'members', (t) =>
  t.connection(
    {
      type: MemberRef,
      nullable: true,
      description: 'The members of this workspace, oldest first (workspaces:read; null with a FORBIDDEN error without it).',
      authScopes: personalDataIn,
      resolve: (workspace, args) => paginateListing(listWorkspaceMembers(workspace._id), args),
    },
    memberConnection,
  ),
);

const workspaceConnection = connectionType(WorkspaceRef, 'Workspace', 'workspaces');
builder.queryField('workspaces', (t) =>
  t.connection(
    {
      type: WorkspaceRef,
      nullable: true,
      description: 'The workspaces this key can reach (its user is a member, and the key is not restricted away from them), newest first.',
      authScopes: { access: { resource: 'WORKSPACES', level: 'READ' } },
      resolve: async (_root, args, ctx) => paginateListing(await listWorkspaces(ctx), args),
    },
    workspaceConnection,
  ),
);

builder.queryField('workspace', (t) =>
  t.field({
    type: WorkspaceRef,
    nullable: true,
    description: 'One workspace by id; null when it does not exist or this key cannot see it.',
    authScopes: { access: { resource: 'WORKSPACES', level: 'READ' } },
    args: { id: t.arg.id({ required: true, description: 'The global id of the workspace.' }) },
    resolve: (_root, args, ctx) => loadByGlobalId(ctx, 'workspace', args.id, 'id'),
  }),
);



const WorkspacePayload = builder.objectRef<{ workspace: WorkspaceDoc }>('WorkspacePayload').implement({
  description: 'The workspace after the change.',
  fields: (t) => ({ workspace: t.field({ type: WorkspaceRef, description: 'The workspace.', resolve: (p) => p.workspace }) }),
});

const CreateWorkspaceInput = builder.inputType('CreateWorkspaceInput', {
  description: 'A new workspace; its creator becomes its OWNER.',
  fields: (t) => ({ name: t.string({ required: true, description: 'The name (1–100 characters).' }) }),
});

builder.mutationField('createWorkspace', (t) =>
  t.field({
    type: WorkspacePayload,
    nullable: true,
    description: 'Creates a workspace owned by the key\'s user. Keys restricted to some workspaces cannot create more.',
    // A key restricted to some workspaces may act only inside them: a new one would be outside.
    authScopes: { access: { resource: 'WORKSPACES', level: 'WRITE' }, unrestrictedKey: true },
    errors: mutationErrors('CreateWorkspace', [ValidationError]),
    args: { input: t.arg({ type: CreateWorkspaceInput, required: true, description: 'The workspace.' }) },
    resolve: async (_root, { input }, ctx) => ({ workspace: await createWorkspace(ctx, { name: input.name }) }),
  }),
);

const UpdateWorkspaceInput = builder.inputType('UpdateWorkspaceInput', {
  description: 'Changes to a workspace (OWNER).',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The global id of the workspace.' }),
    name: t.string({ description: 'A new name (1–100 characters).' }),
  }),
});

builder.mutationField('updateWorkspace', (t) =>
  t.field({
    type: WorkspacePayload,
    nullable: true,
    description: "Renames a workspace (OWNER role, workspaces:write).",
    authScopes: onWorkspace('WORKSPACES', 'WRITE', ({ input }: { input: { id: string } }) => workspaceArg(input.id)),
    errors: mutationErrors('UpdateWorkspace', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: UpdateWorkspaceInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const id = parseIdArg(input.id, 'Workspace', 'input.id');
      return { workspace: await updateWorkspace(ctx, { id, name: input.name }) };
    },
  }),
);

const WorkspaceIdInput = builder.inputType('WorkspaceIdInput', {
  description: 'Identifies one workspace.',
  fields: (t) => ({ id: t.id({ required: true, description: 'The global id of the workspace.' }) }),
});

const DeletedPayload = builder.objectRef<{ deletedId: string }>('DeletePayload').implement({
  description: 'The id of what was deleted.',
  fields: (t) => ({ deletedId: t.exposeID('deletedId', { description: 'The global id it had.' }) }),
});
export { DeletedPayload };

builder.mutationField('deleteWorkspace', (t) =>
  t.field({
    type: DeletedPayload,
    nullable: true,
    description:
      'Deletes a workspace with its projects, links, domains, click statistics, invitations and memberships (OWNER). Keys restricted to it then match nothing.',
    authScopes: onWorkspace('WORKSPACES', 'WRITE', ({ input }: { input: { id: string } }) => workspaceArg(input.id)),
    errors: mutationErrors('DeleteWorkspace', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: WorkspaceIdInput, required: true, description: 'The workspace to delete.' }) },
    resolve: async (_root, { input }, ctx) => {
      const workspace = await deleteWorkspace(ctx, { id: parseIdArg(input.id, 'Workspace', 'input.id') });
      return { deletedId: toGlobalId('Workspace', workspace._id) };
    },
  }),
);

export const MemberPayload = builder.objectRef<{ member: MembershipDoc }>('WorkspaceMemberPayload').implement({
  description: 'The membership after the change.',
  fields: (t) => ({ member: t.field({ type: MemberRef, description: 'The membership.', authScopes: PERSONAL_DATA, resolve: (p) => p.member }) }),
});

const memberInWorkspace = ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId);

const UpdateMemberInput = builder.inputType('UpdateWorkspaceMemberInput', {
  description: "A member's new role (OWNER).",
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    userId: t.id({ required: true, description: 'The global id of the member (a User id).' }),
    role: t.field({ type: RoleEnum, required: true, description: 'The new role.' }),
  }),
});

/** The workspace and user ids of a member input, parsed in argument order. */
const memberIds = (input: { workspaceId: string; userId: string }) => ({
  workspaceId: parseIdArg(input.workspaceId, 'Workspace', 'input.workspaceId'),
  userId: parseIdArg(input.userId, 'User', 'input.userId'),
});

builder.mutationField('updateWorkspaceMember', (t) =>
  t.field({
    type: MemberPayload,
    nullable: true,
    description: "Changes a member's role (OWNER role, workspaces:write). The last OWNER cannot be demoted.",
    authScopes: onWorkspace('WORKSPACES', 'WRITE', memberInWorkspace),
    errors: mutationErrors('UpdateWorkspaceMember', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateMemberInput, required: true, description: 'The member and role.' }) },
    resolve: async (_root, { input }, ctx) => ({ member: await updateWorkspaceMember(ctx, { ...memberIds(input), role: input.role }) }),
  }),
);

const RemoveMemberInput = builder.inputType('RemoveWorkspaceMemberInput', {
  description: 'A member to remove (OWNER).',
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    userId: t.id({ required: true, description: 'The global id of the member (a User id).' }),
  }),
});

builder.mutationField('removeWorkspaceMember', (t) =>
  t.field({
    type: DeletedPayload,
    nullable: true,
    description: 'Removes a member (OWNER role, workspaces:write). The last OWNER cannot leave.',
    authScopes: onWorkspace('WORKSPACES', 'WRITE', memberInWorkspace),
    errors: mutationErrors('RemoveWorkspaceMember', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: RemoveMemberInput, required: true, description: 'The member to remove.' }) },
    resolve: async (_root, { input }, ctx) => {
      const member = await removeWorkspaceMember(ctx, memberIds(input));
      return { deletedId: toGlobalId('User', member.userId) };
    },
  }),
);

