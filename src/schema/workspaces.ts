import { Types } from 'mongoose';
import { keyAllowsWorkspace } from '../rules/permissions.ts';
import type { Context } from '../context.ts';
import { validateRequiredText } from '../rules/validation.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { ClickBucket } from '../models/click-bucket.ts';
import { Domain } from '../models/domain.ts';
import { Invitation } from '../models/invitation.ts';
import { Link } from '../models/link.ts';
import { Project } from '../models/project.ts';
import { Membership, Workspace, type MembershipDoc, type WorkspaceDoc } from '../models/workspace.ts';
import { forbidden } from './auth-scopes.ts';
import { builder } from './builder.ts';
import { RoleEnum } from './enums.ts';
import { mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg } from './guards.ts';
import { parseIdArg, toGlobalId } from './ids.ts';
import { loadAll, loadByGlobalId, requireByGlobalId } from './loaders.ts';
import { connectionType, paginate } from './pagination.ts';
import { ownUserOrPersonalData, PERSONAL_DATA, UserRef } from './users.ts';
import { WorkspaceRef } from './workspace-ref.ts';

builder.node(WorkspaceRef, {
  description: 'A team space that owns projects, links, domains and their analytics.',
  authScopes: (workspace) => ({ visibleWorkspace: String(workspace._id) }),
  id: { resolve: (workspace) => String(workspace._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.workspace, ids),
  isTypeOf: (value) => value instanceof Object && 'createdByUserId' in value && !('workspaceId' in value),
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
      resolve: (workspace, args) => paginate(Membership, { workspaceId: workspace._id }, { createdAt: 1 }, args),
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
      resolve: async (_root, args, ctx) => {
        const ids = [...(await ctx.loaders.visibleWorkspaces())].map((id) => new Types.ObjectId(id));
        return paginate(Workspace, { _id: { $in: ids } }, { createdAt: -1 }, args);
      },
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
    authScopes: { access: { resource: 'WORKSPACES', level: 'WRITE' } },
    errors: mutationErrors('CreateWorkspace', [ValidationError]),
    args: { input: t.arg({ type: CreateWorkspaceInput, required: true, description: 'The workspace.' }) },
    resolve: async (_root, { input }, ctx) => {
      const key = ctx.key!;
      if (key.grant.workspaces.length > 0) {
        throw forbidden('workspaces:write', 'This API key is restricted to some workspaces and so cannot create new ones; use an unrestricted key.');
      }
      const name = validateRequiredText(input.name, 'input.name', 100);
      const workspace = (await Workspace.create({ name, createdByUserId: new Types.ObjectId(key.userId) })).toObject();
      await Membership.create({ workspaceId: workspace._id, userId: workspace.createdByUserId, role: 'OWNER' });
      return { workspace };
    },
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
      const workspace = await requireByGlobalId(ctx, 'workspace', input.id, 'input.id');
      const set = input.name ? { name: validateRequiredText(input.name, 'input.name', 100) } : {};
      const updated = await Workspace.findOneAndUpdate({ _id: workspace._id }, { $set: set }, { new: true }).lean<WorkspaceDoc>().exec();
      if (!updated) throw new NotFoundError('Workspace');
      return { workspace: updated };
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
      const workspace = await requireByGlobalId(ctx, 'workspace', input.id, 'input.id');
      const workspaceId = workspace._id;
      // An idempotent sequence (no transactions): children first, then the workspace, then the
      // memberships, so an interrupted delete can simply be run again by its owner.
      await ClickBucket.deleteMany({ workspaceId });
      await Link.deleteMany({ workspaceId });
      await Project.deleteMany({ workspaceId });
      await Domain.deleteMany({ workspaceId });
      await Invitation.deleteMany({ workspaceId });
      await Workspace.deleteOne({ _id: workspaceId });
      await Membership.deleteMany({ workspaceId });
      ctx.services.linkCache.clear();
      return { deletedId: toGlobalId('Workspace', workspaceId) };
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

async function requireMember(ctx: Context, workspaceGlobalId: string, userGlobalId: string): Promise<MembershipDoc> {
  const workspace = await requireByGlobalId(ctx, 'workspace', workspaceGlobalId, 'input.workspaceId');
  const userId = parseIdArg(userGlobalId, 'User', 'input.userId');
  const member = await Membership.findOne({ workspaceId: workspace._id, userId }).lean<MembershipDoc>().exec();
  if (!member) throw new NotFoundError('Workspace member');
  return member;
}

const lastOwner = (action: string) =>
  new ConflictError('input.userId', `the last OWNER cannot ${action}; make another member OWNER first, or delete the workspace`);

const ownerCount = (workspaceId: MembershipDoc['workspaceId']) => Membership.countDocuments({ workspaceId, role: 'OWNER' });

/**
 * Demotes or removes an OWNER without transactions: checked before (the common case) and again
 * after the write, undoing it when no OWNER is left, so two concurrent demotions cannot
 * leave a workspace without an owner.
 */
async function changeOwnerSafely(member: MembershipDoc, action: string, write: () => Promise<unknown>, undo: () => Promise<unknown>) {
  if (member.role === 'OWNER' && (await ownerCount(member.workspaceId)) <= 1) throw lastOwner(action);
  await write();
  if (member.role === 'OWNER' && (await ownerCount(member.workspaceId)) === 0) {
    await undo();
    throw lastOwner(action);
  }
}

builder.mutationField('updateWorkspaceMember', (t) =>
  t.field({
    type: MemberPayload,
    nullable: true,
    description: "Changes a member's role (OWNER role, workspaces:write). The last OWNER cannot be demoted.",
    authScopes: onWorkspace('WORKSPACES', 'WRITE', memberInWorkspace),
    errors: mutationErrors('UpdateWorkspaceMember', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateMemberInput, required: true, description: 'The member and role.' }) },
    resolve: async (_root, { input }, ctx) => {
      const member = await requireMember(ctx, input.workspaceId, input.userId);
      const setRole = (role: MembershipDoc['role']) => Membership.updateOne({ _id: member._id }, { $set: { role } });
      if (input.role === 'OWNER') await setRole('OWNER');
      else await changeOwnerSafely(member, 'be demoted', () => setRole(input.role), () => setRole('OWNER'));
      const updated = await Membership.findById(member._id).lean<MembershipDoc>().exec();
      if (!updated) throw new NotFoundError('Workspace member');
      return { member: updated };
    },
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
      const member = await requireMember(ctx, input.workspaceId, input.userId);
      await changeOwnerSafely(
        member,
        'leave',
        () => Membership.deleteOne({ _id: member._id }),
        () => Membership.create(member),
      );
      return { deletedId: toGlobalId('User', member.userId) };
    },
  }),
);

