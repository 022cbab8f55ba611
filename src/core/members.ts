import type { Types } from 'mongoose';
import { ConflictError, NotFoundError } from '../errors.ts';
import { Membership, type MembershipDoc } from '../models/workspace.ts';
import type { Role } from '../rules/permissions.ts';
import type { Actor } from './actor.ts';
import { listing, type Listing } from './listing.ts';
import { requireWorkspace } from './workspaces.ts';

export type { MembershipDoc } from '../models/workspace.ts';

/** The members of a workspace (already shown to the actor), oldest first. */
export function listWorkspaceMembers(workspaceId: Types.ObjectId): Listing<MembershipDoc> {
  return listing(Membership, { workspaceId }, { createdAt: 1 });
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

/** Changes a member's role; a workspace always keeps at least one OWNER. */
export async function updateWorkspaceMember(actor: Actor, input: UpdateWorkspaceMemberInput, at = 'input'): Promise<MembershipDoc> {
  const member = await requireMember(actor, input);
  const setRole = (role: Role) => Membership.updateOne({ _id: member._id }, { $set: { role } });
  if (input.role === 'OWNER') await setRole('OWNER');
  else await changeOwnerSafely(member, () => lastOwner(at, 'be demoted'), () => setRole(input.role), () => setRole('OWNER'));
  const updated = await Membership.findById(member._id).lean<MembershipDoc>().exec();
  if (!updated) throw new NotFoundError('Workspace member');
  return updated;
}

/** Removes a member; the last OWNER cannot leave. Answers the removed membership. */
export async function removeWorkspaceMember(actor: Actor, input: WorkspaceMemberInput, at = 'input'): Promise<MembershipDoc> {
  const member = await requireMember(actor, input);
  await changeOwnerSafely(
    member,
    () => lastOwner(at, 'leave'),
    () => Membership.deleteOne({ _id: member._id }),
    () => Membership.create(member),
  );
  return member;
}
