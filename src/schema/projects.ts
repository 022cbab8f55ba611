import type { Context } from '../context.ts';
import { validateColor, validateRequiredText, validateText } from '../rules/validation.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { Link } from '../models/link.ts';
import { Project, type ProjectDoc } from '../models/project.ts';
import { builder } from './builder.ts';
import { mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg, workspaceOf } from './guards.ts';
import { toGlobalId } from './ids.ts';
import { loadAll, requireByGlobalId } from './loaders.ts';
import { connectionType } from './pagination.ts';
import { WorkspaceRef } from './workspace-ref.ts';
import { workspaceLists } from './workspace-lists.ts';
import { DeletedPayload } from './workspaces.ts';

export const ProjectRef = builder.objectRef<ProjectDoc>('Project');

builder.node(ProjectRef, {
  description: 'A group of links inside a workspace (a campaign, a product, a team).',
  authScopes: (project) => ({ visibleWorkspace: String(project.workspaceId), access: { resource: 'PROJECTS', level: 'READ' } }),
  id: { resolve: (project) => String(project._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.project, ids),
  isTypeOf: (value) => value instanceof Object && 'color' in value && !('slug' in value),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The project name.' }),
    description: t.string({ nullable: true, description: 'What the project is for.', resolve: (p) => p.description ?? null }),
    color: t.string({ nullable: true, description: 'A display color, #rrggbb.', resolve: (p) => p.color ?? null }),
    workspace: t.field({
      type: WorkspaceRef,
      description: 'The workspace the project belongs to.',
      resolve: async (p, _args, ctx) => (await ctx.loaders.workspace.load(String(p.workspaceId)))!,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed.' }),
  }),
});

const projectConnection = connectionType(ProjectRef, 'Project', 'projects');

workspaceLists({ field: 'projects', plural: 'projects', resource: 'PROJECTS', type: ProjectRef, model: Project, connection: projectConnection });


const ProjectPayload = builder.objectRef<{ project: ProjectDoc }>('ProjectPayload').implement({
  description: 'The project after the change.',
  fields: (t) => ({ project: t.field({ type: ProjectRef, description: 'The project.', resolve: (p) => p.project }) }),
});

const CreateProjectInput = builder.inputType('CreateProjectInput', {
  description: 'A new project.',
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    name: t.string({ required: true, description: 'The name (1–100 characters).' }),
    description: t.string({ description: 'What it is for (at most 1000 characters).' }),
    color: t.string({ description: 'A display color, #rrggbb.' }),
  }),
});

builder.mutationField('createProject', (t) =>
  t.field({
    type: ProjectPayload,
    nullable: true,
    description: 'Creates a project (projects:write; OWNER or MEMBER).',
    authScopes: onWorkspace('PROJECTS', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('CreateProject', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: CreateProjectInput, required: true, description: 'The project.' }) },
    resolve: async (_root, { input }, ctx) => {
      const workspace = await requireByGlobalId(ctx, 'workspace', input.workspaceId, 'input.workspaceId');
      const project = await Project.create({
        workspaceId: workspace._id,
        name: validateRequiredText(input.name, 'input.name', 100),
        description: validateText(input.description, 'input.description', 1000),
        color: input.color ? validateColor(input.color, 'input.color') : null,
      });
      return { project: project.toObject() };
    },
  }),
);

const UpdateProjectInput = builder.inputType('UpdateProjectInput', {
  description: 'Changes to a project; omitted fields stay as they are.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The global id of the project.' }),
    name: t.string({ description: 'A new name.' }),
    description: t.string({ description: 'A new description; null clears it.' }),
    color: t.string({ description: 'A new color (#rrggbb); null clears it.' }),
  }),
});

const projectWorkspace = ({ input }: { input: { id: string } }, ctx: Context) =>
  workspaceOf(ctx, 'project', input.id);

builder.mutationField('updateProject', (t) =>
  t.field({
    type: ProjectPayload,
    nullable: true,
    description: 'Changes a project (projects:write; OWNER or MEMBER).',
    authScopes: onWorkspace('PROJECTS', 'WRITE', projectWorkspace),
    errors: mutationErrors('UpdateProject', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: UpdateProjectInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const project = await requireByGlobalId(ctx, 'project', input.id, 'input.id');
      const set: Partial<ProjectDoc> = {};
      if (input.name !== undefined && input.name !== null) set.name = validateRequiredText(input.name, 'input.name', 100);
      if (input.description !== undefined) set.description = validateText(input.description, 'input.description', 1000);
      if (input.color !== undefined) set.color = input.color === null ? null : validateColor(input.color, 'input.color');
      const updated = await Project.findOneAndUpdate({ _id: project._id }, { $set: set }, { new: true }).lean<ProjectDoc>().exec();
      if (!updated) throw new NotFoundError('Project');
      return { project: updated };
    },
  }),
);

const ProjectIdInput = builder.inputType('ProjectIdInput', {
  description: 'Identifies one project.',
  fields: (t) => ({ id: t.id({ required: true, description: 'The global id of the project.' }) }),
});

builder.mutationField('deleteProject', (t) =>
  t.field({
    type: DeletedPayload,
    nullable: true,
    description: 'Deletes a project; its links stay, without a project (projects:write; OWNER or MEMBER).',
    authScopes: onWorkspace('PROJECTS', 'WRITE', projectWorkspace),
    errors: mutationErrors('DeleteProject', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: ProjectIdInput, required: true, description: 'The project to delete.' }) },
    resolve: async (_root, { input }, ctx) => {
      const project = await requireByGlobalId(ctx, 'project', input.id, 'input.id');
      await Link.updateMany({ projectId: project._id }, { $set: { projectId: null } });
      await Project.deleteOne({ _id: project._id });
      return { deletedId: toGlobalId('Project', project._id) };
    },
  }),
);
