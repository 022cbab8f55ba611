import type { Types } from 'mongoose';
import { ConflictError, NotFoundError } from '../errors.ts';
import { indexRole, unindexRole } from '../models/user-roles.ts';
import { Membership, type MembershipDoc } from '../models/workspace.ts';
import { ROLES, type Role } from '../rules/permissions.ts';
import type { Actor } from './actor.ts';
import { audit, changesOf } from './audit.ts';
import { listing, type Listing } from './listing.ts';
import { requireWorkspace } from './workspaces.ts';

export type { MembershipDoc } from '../models/workspace.ts';

/** The members of a workspace (already shown to the actor), oldest first. */
export function listWorkspaceMembers(workspaceId: Types.ObjectId): Listing<MembershipDoc> {
  return listing(Membership, { workspaceId }, { key: 'member.createdAt.1', field: 'createdAt', direction: 1, type: 'date' });
}

export interface WorkspaceMemberInput {
  workspaceId: Types.ObjectId;
  userId: Types.ObjectId;
}

/** The membership of a user in a workspace the actor may see, else NotFoundError. */
async function requireMember(actor: Actor, input: WorkspaceMemberInput): Promise<MembershipDoc> {
  const workspace = await requireWorkspace(actor, input.workspaceId);
  const member = await Membership.findOne({ workspaceId: workspace._id, userId: input.userId }).lean<MembershipDoc>().exec();
  if (!member) throw new NotFoundError('Workspace member');
  return member;
}

const lastOwner = (at: string, action: string) =>
  new ConflictError(`${at}.userId`, `the last OWNER cannot ${action}; make another member OWNER first, or delete the workspace`);

const ownerCount = (workspaceId: Types.ObjectId) => Membership.countDocuments({ workspaceId, role: 'OWNER' });

/**
 * Demotes or removes an OWNER without transactions: checked before (the common case) and again
 * after the write, undoing it when no OWNER is left, so two concurrent demotions cannot
 * leave a workspace without an owner.
 */
async function changeOwnerSafely(member: MembershipDoc, fail: () => ConflictError, write: () => Promise<unknown>, undo: () => Promise<unknown>) {
  if (member.role === 'OWNER' && (await ownerCount(member.workspaceId)) <= 1) throw fail();
  await write();
  if (member.role === 'OWNER' && (await ownerCount(member.workspaceId)) === 0) {
    await undo();
    throw fail();
  }
}

export interface UpdateWorkspaceMemberInput extends WorkspaceMemberInput {
  role: Role;
}

/** True when `to` grants less than `from` (ROLES lists the highest first). */
const lowers = (from: Role, to: Role) => ROLES.indexOf(to) > ROLES.indexOf(from);

/**
 * Writes a role to the membership and to the user's roles document in the order that never
 * leaves the roles document higher than the membership: raised, the membership first; lowered,
 * the roles document first.
 */
async function writeRole(member: MembershipDoc, from: Role, to: Role): Promise<void> {
  const membership = () => Membership.updateOne({ _id: member._id }, { $set: { role: to } }).exec();
  const index = () => indexRole(member.userId, member.workspaceId, to);
  if (lowers(from, to)) {
    await index();
    await membership();
  } else {
    await membership();
    await index();
  }
}

/** Changes a member's role; a workspace always keeps at least one OWNER. */
export async function updateWorkspaceMember(actor: Actor, input: UpdateWorkspaceMemberInput, at = 'input'): Promise<MembershipDoc> {
  const member = await requireMember(actor, input);
  if (input.role === 'OWNER') await writeRole(member, member.role, 'OWNER');
  else {
    await changeOwnerSafely(
      member,
      () => lastOwner(at, 'be demoted'),
      () => writeRole(member, member.role, input.role),
      () => writeRole(member, input.role, 'OWNER'),
    );
  }
  const updated = await Membership.findById(member._id).lean<MembershipDoc>().exec();
  if (!updated) throw new NotFoundError('Workspace member');
  await audit(actor, { action: 'member.updated', target: { type: 'User', id: member.userId }, workspaceId: member.workspaceId, changes: changesOf(member, updated, ['role']) });
  return updated;
}

/** Removes a member; the last OWNER cannot leave. Answers the removed membership. */
export async function removeWorkspaceMember(actor: Actor, input: WorkspaceMemberInput, at = 'input'): Promise<MembershipDoc> {
  const member = await requireMember(actor, input);
  await changeOwnerSafely(
    member,
    () => lastOwner(at, 'leave'),
    // The role goes first, so a crash between leaves a membership that grants nothing.
    async () => {
      await unindexRole(member.userId, member.workspaceId);
      await Membership.deleteOne({ _id: member._id }).exec();
    },
    () => Membership.create(member), // indexed again by the model, after it is written
  );
  await audit(actor, { action: 'member.removed', target: { type: 'User', id: member.userId }, workspaceId: member.workspaceId, changes: changesOf(member, null, ['role']) });
  return member;
}
