import type { Types } from 'mongoose';
import { NotFoundError, ValidationError } from '../errors.ts';
import { Workspace, type WorkspaceDoc } from '../models/workspace.ts';
import { keyPolicyViolation, maxLifetimeDaysProblem, NO_KEY_POLICY, type KeyPolicy } from '../rules/key-policy.ts';
import type { Actor } from './actor.ts';
import { announceChange } from './changes.ts';
import { audit, changesOf } from './audit.ts';
import { requireWorkspace } from './workspaces.ts';

/** A workspace's key policy; every rule off when it never set one. */
export function keyPolicyOf(workspace: Pick<WorkspaceDoc, 'keyPolicy'>): KeyPolicy {
  return { ...NO_KEY_POLICY, ...(workspace.keyPolicy ?? {}) };
}

/** Omitted fields keep their value; `maxLifetimeDays: null` removes the limit. */
export interface UpdateKeyPolicyInput {
  workspaceId: Types.ObjectId;
  maxLifetimeDays?: number | null;
  requireExpiry?: boolean | null;
  requireIpAllowlist?: boolean | null;
}

/**
 * Sets a workspace's key policy (the schema lets only OWNERs call it). A policy the calling key
 * itself would break is refused, so that an owner never locks their own key out by mistake: make
 * the change with a key that complies.
 */
export async function updateWorkspaceKeyPolicy(actor: Actor, input: UpdateKeyPolicyInput, at = 'input'): Promise<WorkspaceDoc> {
  const workspace = await requireWorkspace(actor, input.workspaceId);
  const current = keyPolicyOf(workspace);
  const policy: KeyPolicy = {
    maxLifetimeDays: input.maxLifetimeDays === undefined ? current.maxLifetimeDays : input.maxLifetimeDays,
    requireExpiry: input.requireExpiry ?? current.requireExpiry,
    requireIpAllowlist: input.requireIpAllowlist ?? current.requireIpAllowlist,
  };
  const problem = maxLifetimeDaysProblem(policy.maxLifetimeDays);
  if (problem) throw new ValidationError(`${at}.maxLifetimeDays`, problem);
  const key = actor.key;
  const broken = key ? keyPolicyViolation(policy, { ...key.doc, allowedIps: key.doc.allowedIps ?? [] }) : null;
  if (broken) {
    throw new ValidationError(
      `${at}.${broken}`,
      `this API key does not meet ${broken} itself, so the new policy would lock it out of this workspace; make the change with a key that complies`,
    );
  }
  const updated = await Workspace.findOneAndUpdate({ _id: workspace._id }, { $set: { keyPolicy: policy } }, { returnDocument: 'after' })
    .lean<WorkspaceDoc>()
    .exec();
  if (!updated) throw new NotFoundError('Workspace');
  await announceChange(actor, 'workspace', workspace._id);
  await audit(actor, { action: 'workspace.keyPolicyUpdated', target: { type: 'Workspace', id: workspace._id }, workspaceId: workspace._id, changes: changesOf(current, policy) });
  // The rest of this request (the payload) sees the new policy too.
  actor.loaders.workspace.clear(String(workspace._id)).prime(String(workspace._id), updated);
  return updated;
}
