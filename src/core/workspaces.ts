import { Types } from 'mongoose';
import { NotFoundError } from '../errors.ts';
import { forgetWorkspaceDocuments } from '../models/trusted-document.ts';
import { unindexRole } from '../models/user-roles.ts';
import { Membership, Workspace, type MembershipDoc, type WorkspaceDoc } from '../models/workspace.ts';
import { validateRequiredText } from '../rules/validation.ts';
import type { Actor } from './actor.ts';
import { announceChange } from './changes.ts';
import { audit, changesOf } from './audit.ts';
import { listing, newestFirst, type Listing } from './listing.ts';
import { WORKSPACE_CASCADE } from './resources.ts';
import { actingUserId } from './users.ts';

export type { MembershipDoc, WorkspaceDoc } from '../models/workspace.ts';

/** A workspace the actor may see, else NotFoundError (exactly as for one that does not exist). */
export async function requireWorkspace(actor: Actor, workspaceId: Types.ObjectId): Promise<WorkspaceDoc> {
  const workspace = await actor.loaders.workspace.load(String(workspaceId));
  if (!workspace) throw new NotFoundError('Workspace');
  return workspace;
}

/** The workspaces the actor can reach, newest first; not those whose key policy the key breaks. */
export async function listWorkspaces(actor: Actor): Promise<Listing<WorkspaceDoc>> {
  const ids = [...(await actor.loaders.compliantWorkspaces())].map((id) => new Types.ObjectId(id));
  return listing(Workspace, { _id: { $in: ids } }, newestFirst('workspace'));
}

export interface CreateWorkspaceInput {
  name: string;
}

/** A workspace owned by the actor's user, who becomes its OWNER. */
export async function createWorkspace(actor: Actor, input: CreateWorkspaceInput, at = 'input'): Promise<WorkspaceDoc> {
  const name = validateRequiredText(input.name, `${at}.name`, 100);
  const workspace = (await Workspace.create({ name, createdByUserId: actingUserId(actor) })).toObject();
  // Then the model records the role in the user's roles document (see src/models/workspace.ts).
  await Membership.create({ workspaceId: workspace._id, userId: workspace.createdByUserId, role: 'OWNER' });
  await audit(actor, { action: 'workspace.created', target: { type: 'Workspace', id: workspace._id }, workspaceId: workspace._id, changes: changesOf(null, workspace, ['name']) });
  return workspace;
}

export interface UpdateWorkspaceInput {
  id: Types.ObjectId;
  name?: string | null;
}

export async function updateWorkspace(actor: Actor, input: UpdateWorkspaceInput, at = 'input'): Promise<WorkspaceDoc> {
  const workspace = await requireWorkspace(actor, input.id);
  const set = input.name ? { name: validateRequiredText(input.name, `${at}.name`, 100) } : {};
  const updated = await Workspace.findOneAndUpdate({ _id: workspace._id }, { $set: set }, { returnDocument: 'after' }).lean<WorkspaceDoc>().exec();
  if (!updated) throw new NotFoundError('Workspace');
  await announceChange(actor, 'workspace', workspace._id);
  await audit(actor, { action: 'workspace.updated', target: { type: 'Workspace', id: workspace._id }, workspaceId: workspace._id, changes: changesOf(workspace, set) });
  return updated;
}

/** Deletes a workspace and everything it owns; answers the deleted workspace. */
export async function deleteWorkspace(actor: Actor, input: { id: Types.ObjectId }): Promise<WorkspaceDoc> {
  const workspace = await requireWorkspace(actor, input.id);
  const workspaceId = workspace._id;
  // An idempotent sequence (no transactions): what it owns first, then the workspace, then the
  // memberships (each member's role before the membership, so nothing grants more than they
  // say), so an interrupted delete can simply be run again by its owner.
  for (const model of WORKSPACE_CASCADE) await model.deleteMany({ workspaceId }).exec();
  await forgetWorkspaceDocuments(workspaceId);
  await Workspace.deleteOne({ _id: workspaceId }).exec();
  const members = await Membership.find({ workspaceId }, { userId: 1 }).lean<Pick<MembershipDoc, '_id' | 'userId'>[]>().exec();
  for (const member of members) await unindexRole(member.userId, workspaceId);
  await Membership.deleteMany({ workspaceId }).exec();
  actor.services.linkCache.clear();
  await announceChange(actor, 'workspace', workspaceId);
  // Kept after the workspace (until the retention purge), though nobody can list it any more.
  await audit(actor, { action: 'workspace.deleted', target: { type: 'Workspace', id: workspaceId }, workspaceId, changes: changesOf(workspace, null, ['name']) });
  return workspace;
}
