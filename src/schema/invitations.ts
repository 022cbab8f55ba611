import type { Context } from '../context.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import {
  acceptWorkspaceInvitation,
  invitationStatus,
  invitationWorkspaceId,
  invitationWorkspaceName,
  inviteWorkspaceMember,
  inVisibleWorkspace,
  isOpenForActor,
  listWorkspaceInvitations,
  loadInvitations,
  revokeWorkspaceInvitation,
  viewerInvitations,
  type InvitationDoc,
  type InvitationStatus,
} from '../core/invitations.ts';
import { builder } from './builder.ts';
import { RoleEnum } from './enums.ts';
import { mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg } from './guards.ts';
import { parseGlobalId, parseIdArg } from './ids.ts';
import { connectionType, paginateListing } from './pagination.ts';
import { ownUserOrPersonalData, PERSONAL_DATA, UserRef } from './users.ts';
import { ViewerRef } from './viewer.ts';
import { WorkspaceRef } from './workspace-ref.ts';
import { MemberPayload, personalDataIn } from './workspaces.ts';

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
    !(await inVisibleWorkspace(ctx, doc)) && (await isOpenForActor(ctx, doc))
      ? PERSONAL_DATA
      : { ...PERSONAL_DATA, visibleWorkspace: String(doc.workspaceId) },
  id: { resolve: (doc) => String(doc._id) },
  loadMany: (ids, ctx: Context) => loadInvitations(ctx, ids),
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
      resolve: (doc, _args, ctx) => invitationWorkspaceName(ctx, doc),
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
      resolve: (workspace, args) => paginateListing(listWorkspaceInvitations(workspace._id, args.status ?? null), args),
    },
    invitationConnection,
  ),
);

builder.objectField(ViewerRef, 'invitations', (t) =>
  t.field({
    type: [InvitationRef],
    nullable: true,
    description:
      "Pending invitations addressed to the e-mail address of the key's user, newest first. A key restricted to some workspaces sees only invitations to those. Accept one with acceptWorkspaceInvitation.",
    authScopes: PERSONAL_DATA,
    resolve: (_key, _args, ctx) => viewerInvitations(ctx),
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
      const workspaceId = parseIdArg(input.workspaceId, 'Workspace', 'input.workspaceId');
      return { invitation: await inviteWorkspaceMember(ctx, { workspaceId, email: input.email, role: input.role }) };
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
  return id ? invitationWorkspaceId(id) : null;
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
      return { invitation: await revokeWorkspaceInvitation(ctx, { id }) };
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
      const invitationId = parseIdArg(input.invitationId, 'WorkspaceInvitation', 'input.invitationId');
      return { member: await acceptWorkspaceInvitation(ctx, { invitationId }) };
    },
  }),
);
