import type { Role } from '../rules/permissions.ts';
import type { WorkspaceDoc } from '../models/workspace.ts';
import type { Actor } from './actor.ts';
import { loadAll } from './loaders.ts';

export type { UserDoc } from '../models/user.ts';
export type { WorkspaceDoc } from '../models/workspace.ts';

export interface WorkspaceRole {
  workspace: WorkspaceDoc;
  role: Role;
}

/** Every workspace the actor's key can reach, with the user's role there; not those whose key policy the key breaks. */
export async function viewerWorkspaces(actor: Actor): Promise<WorkspaceRole[]> {
  const [memberships, visible] = await Promise.all([actor.memberships(), actor.loaders.compliantWorkspaces()]);
  const workspaces = await loadAll(actor.loaders.workspace, [...visible]);
  return workspaces.flatMap((workspace) => (workspace ? [{ workspace, role: memberships.get(String(workspace._id))! }] : []));
}
