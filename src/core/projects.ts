import type { Types } from 'mongoose';
import { NotFoundError } from '../errors.ts';
import { Counter, counterId } from '../models/counter.ts';
import { Link } from '../models/link.ts';
import { Project, type ProjectDoc } from '../models/project.ts';
import { validateColor, validateRequiredText, validateText } from '../rules/validation.ts';
import type { Actor } from './actor.ts';
import { announceChange } from './changes.ts';
import { audit, changesOf } from './audit.ts';
import { listing, newestFirst, scopeWorkspaceIds, type Listing, type WorkspaceScope } from './listing.ts';

export type { ProjectDoc } from '../models/project.ts';

const MAX_NAME = 100;
const MAX_DESCRIPTION = 1000;

/** A project the actor may see, or NotFoundError (the same answer for one it may not see). */
async function visibleProject(actor: Actor, id: Types.ObjectId): Promise<ProjectDoc> {
  const project = await actor.loaders.project.load(String(id));
  if (!project) throw new NotFoundError('Project');
  return project;
}

/** The projects of one visible workspace, or of every visible one, newest first. */
export async function listProjects(actor: Actor, scope: WorkspaceScope): Promise<Listing<ProjectDoc>> {
  return listing(Project, { workspaceId: { $in: await scopeWorkspaceIds(actor, scope) } }, newestFirst('project'));
}

export interface CreateProjectInput {
  workspaceId: Types.ObjectId;
  name: string;
  description?: string | null;
  color?: string | null;
}

export async function createProject(actor: Actor, input: CreateProjectInput, at = 'input'): Promise<ProjectDoc> {
  const workspace = await actor.loaders.workspace.load(String(input.workspaceId));
  if (!workspace) throw new NotFoundError('Workspace');
  const project = await Project.create({
    workspaceId: workspace._id,
    name: validateRequiredText(input.name, `${at}.name`, MAX_NAME),
    description: validateText(input.description, `${at}.description`, MAX_DESCRIPTION),
    color: input.color ? validateColor(input.color, `${at}.color`) : null,
  });
  const created = project.toObject();
  await audit(actor, { action: 'project.created', target: { type: 'Project', id: created._id }, workspaceId: created.workspaceId, changes: changesOf(null, created, ['name', 'description', 'color']) });
  return created;
}

export interface UpdateProjectInput {
  id: Types.ObjectId;
  /** undefined or null keeps the name. */
  name?: string | null;
  /** undefined keeps it, null clears it. */
  description?: string | null;
  /** undefined keeps it, null clears it. */
  color?: string | null;
}

export async function updateProject(actor: Actor, input: UpdateProjectInput, at = 'input'): Promise<ProjectDoc> {
  const project = await visibleProject(actor, input.id);
  const set: Partial<ProjectDoc> = {};
  if (input.name !== undefined && input.name !== null) set.name = validateRequiredText(input.name, `${at}.name`, MAX_NAME);
  if (input.description !== undefined) set.description = validateText(input.description, `${at}.description`, MAX_DESCRIPTION);
  if (input.color !== undefined) set.color = input.color === null ? null : validateColor(input.color, `${at}.color`);
  const updated = await Project.findOneAndUpdate({ _id: project._id }, { $set: set }, { returnDocument: 'after' }).lean<ProjectDoc>().exec();
  if (!updated) throw new NotFoundError('Project');
  await announceChange(actor, 'project', project._id);
  await audit(actor, { action: 'project.updated', target: { type: 'Project', id: project._id }, workspaceId: project.workspaceId, changes: changesOf(project, set) });
  return updated;
}

export interface ProjectIdInput {
  id: Types.ObjectId;
}

/** Deletes the project and returns it as it was; its links stay, without a project. */
export async function deleteProject(actor: Actor, input: ProjectIdInput, _at = 'input'): Promise<ProjectDoc> {
  const project = await visibleProject(actor, input.id);
  await Link.updateMany({ projectId: project._id }, { $set: { projectId: null } });
  await Project.deleteOne({ _id: project._id });
  await Counter.deleteOne({ _id: counterId('projectLinks', project._id) });
  await announceChange(actor, 'project', project._id);
  await audit(actor, { action: 'project.deleted', target: { type: 'Project', id: project._id }, workspaceId: project.workspaceId, changes: changesOf(project, null, ['name']) });
  return project;
}
