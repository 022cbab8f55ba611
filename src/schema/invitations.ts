import DataLoader from 'dataloader';
import { Types, type QueryFilter } from 'mongoose';
import { keyAllowsWorkspace } from '../rules/permissions.ts';
import type { Context } from '../context.ts';
import { normalizeEmail } from '../core/users.ts';
import { ConflictError, isDuplicateKeyError, NotFoundError, ValidationError } from '../errors.ts';
import {
  INVITATION_LIFETIME_MS,
  Invitation,
  invitationId,
  invitationStatus,
  statusFilter,
  type InvitationDoc,
  type InvitationStatus,
} from '../models/invitation.ts';
import { Membership, Workspace, type MembershipDoc } from '../models/workspace.ts';
import { builder } from './builder.ts';
import { RoleEnum } from './enums.ts';
import { mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg } from './guards.ts';
import { parseGlobalId, parseIdArg } from './ids.ts';
import { requireByGlobalId } from './loaders.ts';
import { connectionType, paginate } from './pagination.ts';
import { ownUserOrPersonalData, PERSONAL_DATA, UserRef } from './users.ts';
import { ViewerRef } from './viewer.ts';
import { WorkspaceRef } from './workspace-ref.ts';
import { MemberPayload, personalDataIn } from './workspaces.ts';

/** The caller's own e-mail address (stored lowercased), which invitations are matched against. */
async function ownEmail(ctx: Context): Promise<string | null> {
  if (!ctx.key) return null;
  return (await ctx.loaders.user.load(ctx.key.userId))?.email ?? null;
}

/** Addressed to the caller, still pending, and in a workspace the key is not restricted away from. */
async function isOpenForCaller(ctx: Context, doc: InvitationDoc, now = new Date()): Promise<boolean> {
  if (!ctx.key || invitationStatus(doc, now) !== 'PENDING' || !keyAllowsWorkspace(ctx.key.grant, String(doc.workspaceId))) return false;
  return doc.email === (await ownEmail(ctx));
}

const inVisibleWorkspace = async (ctx: Context, doc: InvitationDoc) => (await ctx.loaders.visibleWorkspaces()).has(String(doc.workspaceId));

/** The members of its workspace see every invitation of it; the invitee sees its own while pending. */
async function canSee(ctx: Context, doc: InvitationDoc): Promise<boolean> {
  return (await inVisibleWorkspace(ctx, doc)) || isOpenForCaller(ctx, doc);
}

// Workspace names for invitees, who cannot see the workspace itself yet: one query per request.
const workspaceNames = new WeakMap<Context, DataLoader<string, string>>();
function workspaceName(ctx: Context, workspaceId: Types.ObjectId): Promise<string> {
  let loader = workspaceNames.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (ids) => {
      const docs = await Workspace.find({ _id: { $in: ids.map((id) => new Types.ObjectId(id)) } }, { name: 1 }).lean().exec();
      const byId = new Map(docs.map((doc) => [String(doc._id), doc.name]));
      return ids.map((id) => byId.get(id) ?? '');
    });
    workspaceNames.set(ctx, loader);
  }
  return loader.load(String(workspaceId));
}

export const InvitationStatusEnum = builder.enumType('WorkspaceInvitationStatus', {
  description: 'Where an invitation stands.',
  values: {
    PENDING: { value: 'PENDING' as InvitationStatus, description: 'Sent, not yet accepted, revoked or expired.' },
    ACCEPTED: { value: 'ACCEPTED' as InvitationStatus, description: 'The invitee accepted it and is a member.' },
    REVOKED: { value: 'REVOKED' as InvitationStatus, description: 'An owner withdrew it.' },
    EXPIRED: { value: 'EXPIRED' as InvitationStatus, description: 'Not accepted within seven days of being sent.' },
  },
});

export const InvitationRef = builder.objectRef<InvitationDoc>('WorkspaceInvitation');

builder.node(InvitationRef, {
  description:
    "An invitation of an e-mail address to join a workspace with a role. Visible to the workspace's members and, while pending, to the invitee (workspaces:read either way).",
  authScopes: async (doc, ctx) =>
    !(await inVisibleWorkspace(ctx, doc)) && (await isOpenForCaller(ctx, doc))
      ? PERSONAL_DATA
      : { ...PERSONAL_DATA, visibleWorkspace: String(doc.workspaceId) },
  id: { resolve: (doc) => String(doc._id) },
  loadMany: async (ids, ctx: Context) => {
    const valid = ids.filter((id) => Types.ObjectId.isValid(id) && String(new Types.ObjectId(id)) === id);
    const docs = await Invitation.find({ _id: { $in: valid.map((id) => new Types.ObjectId(id)) } }).lean<InvitationDoc[]>().exec();
    const visible = new Map<string, InvitationDoc>();
    for (const doc of docs) if (await canSee(ctx, doc)) visible.set(String(doc._id), doc);
    return ids.map((id) => visible.get(id) ?? null);
  },
  isTypeOf: (value) => value instanceof Object && 'invitedByUserId' in value && 'expiresAt' in value,
  fields: (t) => ({
    email: t.exposeString('email', { description: 'The invited address, lowercased.', authScopes: PERSONAL_DATA }),
    role: t.expose('role', { type: RoleEnum, description: 'The role the invitee gets on accepting.' }),
    status: t.field({ type: InvitationStatusEnum, description: 'PENDING, ACCEPTED, REVOKED or EXPIRED.', resolve: (doc) => invitationStatus(doc) }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'Seven days after it was sent; after that it can no longer be accepted.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was (last) sent.' }),
    invitedBy: t.field({
      type: UserRef,
      nullable: true,
      description: 'The owner who sent it.',
      authScopes: ownUserOrPersonalData((doc) => doc.invitedByUserId),
      resolve: (doc, _args, ctx) => ctx.loaders.user.load(String(doc.invitedByUserId)),
    }),
    workspace: t.field({
      type: WorkspaceRef,
      nullable: true,
      description: 'The workspace; null for an invitee who is not a member yet (see workspaceName).',
      resolve: (doc, _args, ctx) => ctx.loaders.workspace.load(String(doc.workspaceId)),
    }),
    workspaceName: t.string({
      description: 'The name of the workspace, also shown to the invitee before they join.',
      resolve: (doc, _args, ctx) => workspaceName(ctx, doc.workspaceId),
    }),
  }),
});

const invitationConnection = connectionType(InvitationRef, 'WorkspaceInvitation', 'workspace invitations');
builder.objectField(WorkspaceRef, 'invitations', (t) =>
  t.connection(
    {
      type: InvitationRef,
      nullable: true,
      description: "This workspace's invitations, newest first (workspaces:read; null with a FORBIDDEN error without it).",
      authScopes: personalDataIn,
      args: { status: t.arg({ type: InvitationStatusEnum, description: 'Only invitations with this status.' }) },
      resolve: (workspace, args) => {
        const filter = { workspaceId: workspace._id, ...(args.status ? statusFilter(args.status) : {}) } as QueryFilter<InvitationDoc>;
        return paginate(Invitation, filter, { createdAt: -1 }, args);
      },
    },
    invitationConnection,
  ),
);

// At most this many open invitations are listed for one user.
const MAX_OPEN_INVITATIONS = 100;

builder.objectField(ViewerRef, 'invitations', (t) =>
  t.field({
    type: [InvitationRef],
    nullable: true,
    description:
      "Pending invitations addressed to the e-mail address of the key's user, newest first (workspaces:read). A key restricted to some workspaces sees only invitations to those. Accept one with acceptWorkspaceInvitation.",
    authScopes: PERSONAL_DATA,
    resolve: async (key, _args, ctx) => {
      const email = await ownEmail(ctx);
      if (!email) return [];
      const docs = await Invitation.find({ email, ...statusFilter('PENDING') })
        .sort({ createdAt: -1, _id: -1 })
        .limit(MAX_OPEN_INVITATIONS)
        .lean<InvitationDoc[]>()
        .exec();
      return docs.filter((doc) => keyAllowsWorkspace(key.grant, String(doc.workspaceId)));
    },
  }),
);

const InvitationPayload = builder.objectRef<{ invitation: InvitationDoc }>('WorkspaceInvitationPayload').implement({
  description: 'The invitation after the change.',
  fields: (t) => ({
    invitation: t.field({ type: InvitationRef, description: 'The invitation.', authScopes: PERSONAL_DATA, resolve: (p) => p.invitation }),
  }),
});

const InviteMemberInput = builder.inputType('InviteWorkspaceMemberInput', {
  description: 'An e-mail address to invite to a workspace (OWNER).',
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    email: t.string({ required: true, description: 'The address to invite; it need not have an account yet.' }),
    role: t.field({ type: RoleEnum, required: true, description: 'The role they get on accepting.' }),
  }),
});

/**
 * Opens (or re-opens) the invitation of `email` to a workspace: one upsert by _id. Two at once
 * may both try to insert; the loser's insert clashes on _id and is retried as an update.
 */
async function sendInvitation(workspaceId: Types.ObjectId, email: string, role: InvitationDoc['role'], invitedByUserId: Types.ObjectId) {
  const now = new Date();
  const update = {
    $set: { role, status: 'PENDING', invitedByUserId, createdAt: now, expiresAt: new Date(now.getTime() + INVITATION_LIFETIME_MS), updatedAt: now, acceptedByUserId: null },
    $setOnInsert: { workspaceId, email },
  };
  const upsert = () =>
    Invitation.findOneAndUpdate({ _id: invitationId(workspaceId, email) }, update, { upsert: true, new: true }).lean<InvitationDoc>().exec();
  try {
    return (await upsert())!;
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
    return (await upsert())!;
  }
}

builder.mutationField('inviteWorkspaceMember', (t) =>
  t.field({
    type: InvitationPayload,
    nullable: true,
    description:
      'Invites an e-mail address to a workspace with a role (OWNER role, workspaces:write). The answer is the same whether or not the address has an account or is already a member. Inviting an address again re-sends its invitation: the new role, seven more days.',
    authScopes: onWorkspace('WORKSPACES', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('InviteWorkspaceMember', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: InviteMemberInput, required: true, description: 'Who to invite, where, with which role.' }) },
    resolve: async (_root, { input }, ctx) => {
      let email: string;
      try {
        email = normalizeEmail(input.email);
      } catch (error) {
        throw error instanceof ValidationError ? new ValidationError('input.email', `${error.message}; give an address such as ada@example.com`) : error;
      }
      const workspace = await requireByGlobalId(ctx, 'workspace', input.workspaceId, 'input.workspaceId');
      const invitation = await sendInvitation(workspace._id, email, input.role, new Types.ObjectId(ctx.key!.userId));
      return { invitation };
    },
  }),
);

const InvitationIdInput = builder.inputType('WorkspaceInvitationIdInput', {
  description: 'Identifies one invitation.',
  fields: (t) => ({ id: t.id({ required: true, description: 'The global id of the invitation.' }) }),
});

/** The workspace of an invitation, for the auth rule (a workspace the key cannot see passes there and is NOT_FOUND here). */
async function invitationWorkspace(globalId: string): Promise<string | null> {
  const id = parseGlobalId(globalId, 'WorkspaceInvitation');
  const doc = id ? await Invitation.findById(id, { workspaceId: 1 }).lean().exec() : null;
  return doc ? String(doc.workspaceId) : null;
}

builder.mutationField('revokeWorkspaceInvitation', (t) =>
  t.field({
    type: InvitationPayload,
    nullable: true,
    description: 'Withdraws an invitation so it can no longer be accepted (OWNER role, workspaces:write). Revoking twice is harmless.',
    authScopes: onWorkspace('WORKSPACES', 'WRITE', ({ input }: { input: { id: string } }) => invitationWorkspace(input.id)),
    errors: mutationErrors('RevokeWorkspaceInvitation', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: InvitationIdInput, required: true, description: 'The invitation to revoke.' }) },
    resolve: async (_root, { input }, ctx) => {
      const id = parseIdArg(input.id, 'WorkspaceInvitation', 'input.id');
      const doc = await Invitation.findById(id).lean<InvitationDoc>().exec();
      if (!doc || !(await inVisibleWorkspace(ctx, doc))) throw new NotFoundError('Workspace invitation');
      const accepted = () =>
        new ConflictError('input.id', 'this invitation was already accepted; remove the member with removeWorkspaceMember instead');
      if (doc.status === 'ACCEPTED') throw accepted();
      const revoked = await Invitation.findOneAndUpdate(
        { _id: doc._id, status: { $ne: 'ACCEPTED' } },
        { $set: { status: 'REVOKED', updatedAt: new Date() } },
        { new: true },
      )
        .lean<InvitationDoc>()
        .exec();
      if (!revoked) throw accepted(); // accepted (or deleted with its workspace) meanwhile
      return { invitation: revoked };
    },
  }),
);

const AcceptInvitationInput = builder.inputType('AcceptWorkspaceInvitationInput', {
  description: 'An invitation addressed to the key\'s user.',
  fields: (t) => ({ invitationId: t.id({ required: true, description: 'The global id of the invitation (from viewer.invitations).' }) }),
});

builder.mutationField('acceptWorkspaceInvitation', (t) =>
  t.field({
    type: MemberPayload,
    nullable: true,
    description:
      "Joins a workspace by accepting a pending invitation addressed to the key's user (workspaces:write). A key restricted to some workspaces can accept invitations to those only. Someone else's, an expired, revoked or used invitation is NotFoundError. Already a member: the invitation is used up and the membership stays as it is.",
    authScopes: { access: { resource: 'WORKSPACES', level: 'WRITE' } },
    errors: mutationErrors('AcceptWorkspaceInvitation', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: AcceptInvitationInput, required: true, description: 'The invitation to accept.' }) },
    resolve: async (_root, { input }, ctx) => {
      const id = parseIdArg(input.invitationId, 'WorkspaceInvitation', 'input.invitationId');
      const now = new Date();
      const doc = await Invitation.findById(id).lean<InvitationDoc>().exec();
      if (!doc || !(await isOpenForCaller(ctx, doc, now))) throw new NotFoundError('Workspace invitation');
      const userId = new Types.ObjectId(ctx.key!.userId);
      // Claimed first, so a revocation or re-invitation racing this either wins (not found here) or comes after.
      const claimed = await Invitation.updateOne(
        { _id: doc._id, status: 'PENDING', createdAt: doc.createdAt },
        { $set: { status: 'ACCEPTED', acceptedByUserId: userId, updatedAt: now } },
      ).exec();
      if (claimed.modifiedCount !== 1) throw new NotFoundError('Workspace invitation');
      const existing = () => Membership.findOne({ workspaceId: doc.workspaceId, userId }).lean<MembershipDoc>().exec();
      const member = await existing();
      if (member) return { member };
      try {
        return { member: (await Membership.create({ workspaceId: doc.workspaceId, userId, role: doc.role })).toObject() };
      } catch (error) {
        const joined = isDuplicateKeyError(error) ? await existing() : null;
        if (joined) return { member: joined };
        await Invitation.updateOne({ _id: doc._id, status: 'ACCEPTED' }, { $set: { status: 'PENDING', acceptedByUserId: null } }).exec();
        throw error;
      }
    },
  }),
);
