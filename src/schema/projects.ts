import type { Context } from '../context.ts';
import { createProject, deleteProject, listProjects, updateProject, type ProjectDoc } from '../core/projects.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { builder } from './builder.ts';
import { mutationErrors } from './errors.ts';
import { onOwned, onWorkspace, readableOwned, workspaceArg } from './guards.ts';
import { parseIdArg, toGlobalId } from './ids.ts';
import { loadAll } from './loaders.ts';
import { connectionType } from './pagination.ts';
import { WorkspaceRef } from './workspace-ref.ts';
import { workspaceLists } from './workspace-lists.ts';
import { DeletedPayload } from './workspaces.ts';

export const ProjectRef = builder.objectRef<ProjectDoc>('Project');

builder.node(ProjectRef, {
  description: 'A group of links inside a workspace (a campaign, a product, a team).',
  authScopes: readableOwned('project'),
  id: { resolve: (project) => String(project._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.project, ids),
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

workspaceLists({ field: 'projects', plural: 'projects', resource: 'PROJECTS', type: ProjectRef, list: listProjects, connection: projectConnection });


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
    resolve: async (_root, { input }, ctx) => ({
      project: await createProject(ctx, {
        workspaceId: parseIdArg(input.workspaceId, 'Workspace', 'input.workspaceId'),
        name: input.name,
        description: input.description,
        color: input.color,
      }),
    }),
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

builder.mutationField('updateProject', (t) =>
  t.field({
    type: ProjectPayload,
    nullable: true,
    description: 'Changes a project (projects:write; OWNER or MEMBER).',
    authScopes: onOwned('project', 'WRITE'),
    errors: mutationErrors('UpdateProject', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: UpdateProjectInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => ({
      project: await updateProject(ctx, {
        id: parseIdArg(input.id, 'Project', 'input.id'),
        name: input.name,
        description: input.description,
        color: input.color,
      }),
    }),
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
    authScopes: onOwned('project', 'WRITE'),
    errors: mutationErrors('DeleteProject', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: ProjectIdInput, required: true, description: 'The project to delete.' }) },
    resolve: async (_root, { input }, ctx) => {
      const project = await deleteProject(ctx, { id: parseIdArg(input.id, 'Project', 'input.id') });
      return { deletedId: toGlobalId('Project', project._id) };
    },
  }),
);
