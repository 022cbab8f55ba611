import DataLoader from 'dataloader';
import { Types, type QueryFilter } from 'mongoose';
import { isDuplicateKeyError, ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { INVITATION_LIFETIME_MS, Invitation, invitationId, statusFilter, type InvitationDoc, type InvitationStatus } from '../models/invitation.ts';
import { Membership, Workspace, type MembershipDoc } from '../models/workspace.ts';
import { keyAllowsWorkspace, type Role } from '../rules/permissions.ts';
import type { Actor } from './actor.ts';
import { audit, changesOf } from './audit.ts';
import { listing, newestFirst, type Listing } from './listing.ts';
import { loadAll } from './loaders.ts';
import { isOpenForInvitee } from './resources.ts';
import { actingUserId, normalizeEmail, ownEmail } from './users.ts';
import { requireWorkspace } from './workspaces.ts';

export type { InvitationDoc, InvitationStatus } from '../models/invitation.ts';
export { invitationStatus } from '../models/invitation.ts';

// At most this many open invitations are listed for one user.
const MAX_OPEN_INVITATIONS = 100;

/** Addressed to the actor's user, still pending, and in a workspace the key is not restricted away from. */
export function isOpenForActor(actor: Actor, doc: InvitationDoc, now = new Date()): Promise<boolean> {
  return isOpenForInvitee(doc, { key: actor.key, email: () => ownEmail(actor) }, now);
}

/** The invitation belongs to a workspace the actor may see. */
export async function inVisibleWorkspace(actor: Actor, doc: InvitationDoc): Promise<boolean> {
  return (await actor.loaders.visibleWorkspaces()).has(String(doc.workspaceId));
}

/**
 * Invitations by id (strings from global ids), null where missing or hidden: the members of its
 * workspace see every invitation of it, the invitee sees its own while pending.
 */
export function loadInvitations(actor: Actor, ids: readonly string[]): Promise<(InvitationDoc | null)[]> {
  return loadAll(actor.loaders.invitation, ids);
}

/** The workspace of an invitation, for auth rules; null when there is none. */
export async function invitationWorkspaceId(id: Types.ObjectId): Promise<string | null> {
  const doc = await Invitation.findById(id, { workspaceId: 1 }).lean().exec();
  return doc ? String(doc.workspaceId) : null;
}

// Workspace names for invitees, who cannot see the workspace itself yet: one query per actor.
const workspaceNames = new WeakMap<Actor, DataLoader<string, string>>();

/** The name of an invitation's workspace, shown to the invitee before they join. */
export function invitationWorkspaceName(actor: Actor, doc: InvitationDoc): Promise<string> {
  let loader = workspaceNames.get(actor);
  if (!loader) {
    loader = new DataLoader(async (ids) => {
      const docs = await Workspace.find({ _id: { $in: ids.map((id) => new Types.ObjectId(id)) } }, { name: 1 }).lean().exec();
      const byId = new Map(docs.map((doc) => [String(doc._id), doc.name]));
      return ids.map((id) => byId.get(id) ?? '');
    });
    workspaceNames.set(actor, loader);
  }
  return loader.load(String(doc.workspaceId));
}

/** The invitations of a workspace (already shown to the actor), newest first. */
export function listWorkspaceInvitations(workspaceId: Types.ObjectId, status: InvitationStatus | null = null): Listing<InvitationDoc> {
  const filter = { workspaceId, ...(status ? statusFilter(status) : {}) } as QueryFilter<InvitationDoc>;
  return listing(Invitation, filter, newestFirst('invitation'));
}

/** Pending invitations addressed to the actor's user, in workspaces the key is not restricted away from, newest first. */
export async function viewerInvitations(actor: Actor): Promise<InvitationDoc[]> {
  const email = await ownEmail(actor);
  if (!email || !actor.key) return [];
  const docs = await Invitation.find({ email, ...statusFilter('PENDING') })
    .sort({ createdAt: -1, _id: -1 })
    .limit(MAX_OPEN_INVITATIONS)
    .lean<InvitationDoc[]>()
    .exec();
  const grant = actor.key.grant;
  return docs.filter((doc) => keyAllowsWorkspace(grant, String(doc.workspaceId)));
}

export interface InviteWorkspaceMemberInput {
  workspaceId: Types.ObjectId;
  email: string;
  role: Role;
}

/**
 * Opens (or re-opens) the invitation of `email` to a workspace: one upsert by _id. Two at once
 * may both try to insert; the loser's insert clashes on _id and is retried as an update.
 */
export async function inviteWorkspaceMember(actor: Actor, input: InviteWorkspaceMemberInput, at = 'input'): Promise<InvitationDoc> {
  let email: string;
  try {
    email = normalizeEmail(input.email);
  } catch (error) {
    throw error instanceof ValidationError ? new ValidationError(`${at}.email`, `${error.message}; give an address such as ada@example.com`) : error;
  }
  const workspace = await requireWorkspace(actor, input.workspaceId);
  const now = new Date();
  const update = {
    $set: {
      role: input.role,
      status: 'PENDING',
      invitedByUserId: actingUserId(actor),
      createdAt: now,
      expiresAt: new Date(now.getTime() + INVITATION_LIFETIME_MS),
      updatedAt: now,
      acceptedByUserId: null,
    },
    $setOnInsert: { workspaceId: workspace._id, email },
  };
  const upsert = () =>
    Invitation.findOneAndUpdate({ _id: invitationId(workspace._id, email) }, update, { upsert: true, returnDocument: 'after' }).lean<InvitationDoc>().exec();
  let invitation: InvitationDoc;
  try {
    invitation = (await upsert())!;
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
    invitation = (await upsert())!;
  }
  await audit(actor, { action: 'invitation.created', target: { type: 'WorkspaceInvitation', id: invitation._id }, workspaceId: workspace._id, changes: changesOf(null, invitation, ['email', 'role']) });
  return invitation;
}

/** Withdraws an invitation of a workspace the actor may see; revoking twice is harmless, an accepted one is a conflict. */
export async function revokeWorkspaceInvitation(actor: Actor, input: { id: Types.ObjectId }, at = 'input'): Promise<InvitationDoc> {
  const doc = await Invitation.findById(input.id).lean<InvitationDoc>().exec();
  if (!doc || !(await inVisibleWorkspace(actor, doc))) throw new NotFoundError('Workspace invitation');
  const accepted = () =>
    new ConflictError(`${at}.id`, 'this invitation was already accepted; remove the member with removeWorkspaceMember instead');
  if (doc.status === 'ACCEPTED') throw accepted();
  const revoked = await Invitation.findOneAndUpdate(
    { _id: doc._id, status: { $ne: 'ACCEPTED' } },
    { $set: { status: 'REVOKED', updatedAt: new Date() } },
    { returnDocument: 'after' },
  )
    .lean<InvitationDoc>()
    .exec();
  if (!revoked) throw accepted(); // accepted (or deleted with its workspace) meanwhile
  await audit(actor, { action: 'invitation.revoked', target: { type: 'WorkspaceInvitation', id: doc._id }, workspaceId: doc.workspaceId, changes: changesOf(doc, revoked, ['status']) });
  return revoked;
}

/**
 * Joins the workspace of a pending invitation addressed to the actor's user. Already a member:
 * the invitation is used up and the membership stays as it is.
 */
export async function acceptWorkspaceInvitation(actor: Actor, input: { invitationId: Types.ObjectId }): Promise<MembershipDoc> {
  const now = new Date();
  const doc = await Invitation.findById(input.invitationId).lean<InvitationDoc>().exec();
  if (!doc || !(await isOpenForActor(actor, doc, now))) throw new NotFoundError('Workspace invitation');
  const userId = actingUserId(actor);
  // Claimed first, so a revocation or re-invitation racing this either wins (not found here) or comes after.
  const claimed = await Invitation.updateOne(
    { _id: doc._id, status: 'PENDING', createdAt: doc.createdAt },
    { $set: { status: 'ACCEPTED', acceptedByUserId: userId, updatedAt: now } },
  ).exec();
  if (claimed.modifiedCount !== 1) throw new NotFoundError('Workspace invitation');
  const member = await joinWorkspace(doc, userId);
  await audit(actor, { action: 'invitation.accepted', target: { type: 'WorkspaceInvitation', id: doc._id }, workspaceId: doc.workspaceId, changes: { status: { before: 'PENDING', after: 'ACCEPTED' }, role: { after: member.role } } });
  return member;
}

/** The membership of a claimed invitation: the existing one, or a new one (the claim is undone if that fails). */
async function joinWorkspace(doc: InvitationDoc, userId: Types.ObjectId): Promise<MembershipDoc> {
  const existing = () => Membership.findOne({ workspaceId: doc.workspaceId, userId }).lean<MembershipDoc>().exec();
  const member = await existing();
  if (member) return member;
  try {
    return (await Membership.create({ workspaceId: doc.workspaceId, userId, role: doc.role })).toObject();
  } catch (error) {
    const joined = isDuplicateKeyError(error) ? await existing() : null;
    if (joined) return joined;
    await Invitation.updateOne({ _id: doc._id, status: 'ACCEPTED' }, { $set: { status: 'PENDING', acceptedByUserId: null } }).exec();
    throw error;
  }
}
