import type { Context } from '../context.ts';
import {
  createLink,
  deleteLink,
  links,
  projectLinks,
  updateLink,
  workspaceLinks,
  type LinkDoc,
  type LinkFilterInput,
  type Utm,
} from '../core/links.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { PLATFORM_DOMAIN, shortUrl, shownDomain, UTM_FIELDS } from '../rules/links.ts';
import { builder } from './builder.ts';
import { DomainRef } from './domains.ts';
import { mutationErrors } from './errors.ts';
import { onOwned, onWorkspace, readableOwned, workspaceArg } from './guards.ts';
import { parseIdArg, parseQueryIdArg, toGlobalId } from './ids.ts';
import { loadAll, loadByGlobalId } from './loaders.ts';
import { connectionType, paginateListing } from './pagination.ts';
import { ProjectRef } from './projects.ts';
import { ownUserOrPersonalData, UserRef } from './users.ts';
import { WorkspaceRef } from './workspace-ref.ts';
import { DeletedPayload } from './workspaces.ts';

const UtmRef = builder.objectRef<Utm>('Utm').implement({
  description: 'UTM parameters added to the destination on every redirect.',
  fields: (t) =>
    Object.fromEntries(
      UTM_FIELDS.map((f) => [f, t.string({ nullable: true, description: `utm_${f}.`, resolve: (utm) => utm[f] ?? null })]),
    ),
});

const UtmInput = builder.inputType('UtmInput', {
  description: 'UTM parameters (each at most 200 characters); omitted ones are not set.',
  fields: (t) => ({
    source: t.string({ description: 'utm_source, e.g. newsletter.' }),
    medium: t.string({ description: 'utm_medium, e.g. email.' }),
    campaign: t.string({ description: 'utm_campaign, e.g. spring-sale.' }),
    term: t.string({ description: 'utm_term.' }),
    content: t.string({ description: 'utm_content.' }),
  }),
});

export const LinkRef = builder.objectRef<LinkDoc>('Link');

builder.node(LinkRef, {
  description: 'A short link: a slug on a domain that redirects to a destination URL.',
  // Reading a link needs links:read too, however it is reached (node(id:), a project, stats).
  authScopes: readableOwned('link'),
  id: { resolve: (link) => String(link._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.link, ids),
  fields: (t) => ({
    url: t.exposeString('url', { description: 'The destination: an absolute http(s) URL.' }),
    hostname: t.string({
      description: 'The host the link answers on (the platform domain or a custom one).',
      resolve: (link, _args, ctx) => shownDomain(link.domain, ctx.services.config.shortDomain),
    }),
    domain: t.field({
      type: DomainRef,
      nullable: true,
      description: "The custom domain of the link; null when it uses the platform's short domain.",
      resolve: (link, _args, ctx) => (link.domain === PLATFORM_DOMAIN ? null : ctx.loaders.domainByHost.load(link.domain)),
    }),
    slug: t.exposeString('slug', { description: 'The path after the domain (case-sensitive).' }),
    shortUrl: t.string({ description: 'The full short URL to share.', resolve: (link, _args, ctx) => shortUrl(link, ctx.services.config.shortDomain) }),
    title: t.string({ nullable: true, description: 'A title for people.', resolve: (link) => link.title ?? null }),
    description: t.string({ nullable: true, description: 'A note for people.', resolve: (link) => link.description ?? null }),
    tags: t.exposeStringList('tags', { description: 'Free-form tags for filtering.' }),
    project: t.field({
      type: ProjectRef,
      nullable: true,
      description: 'The project the link belongs to, if any.',
      resolve: (link, _args, ctx) => (link.projectId ? ctx.loaders.project.load(String(link.projectId)) : null),
    }),
    utm: t.field({ type: UtmRef, nullable: true, description: 'UTM parameters added on redirect.', resolve: (link) => link.utm ?? null }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'After this the link answers 410.' }),
    maxClicks: t.int({ nullable: true, description: 'After this many clicks the link answers 410.', resolve: (link) => link.maxClicks ?? null }),
    archived: t.exposeBoolean('archived', { description: 'Archived links answer 410 and are hidden from lists by default.' }),
    clicks: t.exposeInt('clicks', { description: 'Total clicks by people (written in batches, about a second late).' }),
    botClicks: t.int({
      description: 'Total requests from crawlers, link-preview fetchers and scripts: redirected, but not clicks (batched like clicks).',
      resolve: (link) => link.botClicks ?? 0,
    }),
    workspace: t.field({
      type: WorkspaceRef,
      description: 'The owning workspace.',
      resolve: async (link, _args, ctx) => (await ctx.loaders.workspace.load(String(link.workspaceId)))!,
    }),
    createdBy: t.field({
      type: UserRef,
      nullable: true,
      description: "The user whose key created the link (another user than the key's own needs workspaces:read).",
      authScopes: ownUserOrPersonalData((link) => link.createdByUserId),
      resolve: (link, _args, ctx) => ctx.loaders.user.load(String(link.createdByUserId)),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed.' }),
  }),
});

const LinkFilter = builder.inputType('LinkFilter', {
  description: 'Narrows a list of links; all given conditions must hold.',
  fields: (t) => ({
    projectId: t.id({ description: 'Only links of this project.' }),
    domain: t.string({ description: 'Only links on this hostname (the short domain: links on the platform domain).' }),
    tag: t.string({ description: 'Only links with this tag.' }),
    search: t.string({ description: 'Case-insensitive text in the URL, slug or title.' }),
    archived: t.boolean({ description: 'true: only archived; false (default): only active; to see both, run two queries.' }),
    createdAfter: t.field({ type: 'DateTime', description: 'Created at or after this instant.' }),
    createdBefore: t.field({ type: 'DateTime', description: 'Created before this instant.' }),
  }),
});

const LinkOrderField = builder.enumType('LinkOrderField', {
  description: 'What to sort links by.',
  values: {
    CREATED_AT: { value: 'createdAt', description: 'Creation time.' },
    UPDATED_AT: { value: 'updatedAt', description: 'Last change.' },
    CLICKS: { value: 'clicks', description: 'Total clicks.' },
  } as const,
});

const OrderDirection = builder.enumType('OrderDirection', {
  description: 'Sort direction.',
  values: {
    ASC: { value: 1, description: 'Smallest or oldest first.' },
    DESC: { value: -1, description: 'Largest or newest first.' },
  } as const,
});

const LinkOrder = builder.inputType('LinkOrder', {
  description: 'How to sort links (default: newest first).',
  fields: (t) => ({
    field: t.field({ type: LinkOrderField, required: true, description: 'The sort key.' }),
    direction: t.field({ type: OrderDirection, description: 'The direction (default DESC).' }),
  }),
});

/** The filter argument with its ids parsed (a malformed projectId is a BAD_USER_INPUT error). */
function linkFilter(filter: typeof LinkFilter.$inferInput | null | undefined): LinkFilterInput | null {
  if (!filter) return null;
  const projectId = filter.projectId == null ? null : parseQueryIdArg(filter.projectId, 'Project', 'filter.projectId');
  return { ...filter, projectId };
}

const linkConnection = connectionType(LinkRef, 'Link', 'links');

builder.queryField('links', (t) =>
  t.connection(
    {
      type: LinkRef,
      nullable: true,
      description: 'Links of a workspace (or of every workspace the key can reach), filtered and sorted.',
      authScopes: (_root, args: { workspaceId?: string | null }) => ({
        access: { resource: 'LINKS', level: 'READ' },
        compliantWorkspace: workspaceArg(args.workspaceId),
      }),
      args: {
        workspaceId: t.arg.id({ description: 'Only this workspace; omit for all.' }),
        filter: t.arg({ type: LinkFilter, description: 'Conditions.' }),
        orderBy: t.arg({ type: LinkOrder, description: 'Sort order (default: newest first).' }),
      },
      resolve: async (_root, args, ctx) => {
        const workspaceId = args.workspaceId == null ? null : parseQueryIdArg(args.workspaceId, 'Workspace', 'workspaceId');
        const filter = linkFilter(args.filter);
        return paginateListing(await links(ctx, { workspaceId, filter, orderBy: args.orderBy }), args);
      },
    },
    linkConnection,
  ),
);

builder.objectField(WorkspaceRef, 'links', (t) =>
  t.connection(
    {
      type: LinkRef,
      description: "This workspace's active links, newest first.",
      authScopes: { access: { resource: 'LINKS', level: 'READ' } },
      resolve: (workspace, args) => paginateListing(workspaceLinks(workspace), args),
    },
    linkConnection,
  ),
);

builder.objectField(ProjectRef, 'links', (t) =>
  t.connection(
    {
      type: LinkRef,
      description: "This project's active links, newest first.",
      authScopes: { access: { resource: 'LINKS', level: 'READ' } },
      resolve: (project, args) => paginateListing(projectLinks(project), args),
    },
    linkConnection,
  ),
);

builder.queryField('link', (t) =>
  t.field({
    type: LinkRef,
    nullable: true,
    description: 'One link by id; null when it does not exist or this key cannot see it.',
    authScopes: { access: { resource: 'LINKS', level: 'READ' } },
    args: { id: t.arg.id({ required: true, description: 'The global id of the link.' }) },
    resolve: (_root, args, ctx) => loadByGlobalId(ctx, 'link', args.id, 'id'),
  }),
);

const LinkPayload = builder.objectRef<{ link: LinkDoc }>('LinkPayload').implement({
  description: 'The link after the change.',
  fields: (t) => ({ link: t.field({ type: LinkRef, description: 'The link.', resolve: (p) => p.link }) }),
});

const CreateLinkInput = builder.inputType('CreateLinkInput', {
  description: 'A new short link.',
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    url: t.string({ required: true, description: 'The destination: an absolute http(s) URL, at most 2048 characters.' }),
    domain: t.string({ description: "A verified domain of the workspace, or the platform's short domain; default: its primary domain, else the platform's." }),
    slug: t.string({ description: 'A custom slug ([A-Za-z0-9_-], 1–64, case-sensitive); default: 7 random characters.' }),
    title: t.string({ description: 'A title (at most 200 characters).' }),
    description: t.string({ description: 'A note (at most 1000 characters).' }),
    tags: t.stringList({ description: 'Tags (at most 20, each 1–50 characters).' }),
    projectId: t.id({ description: 'A project of the same workspace.' }),
    utm: t.field({ type: UtmInput, description: 'UTM parameters to add on redirect.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'When the link stops redirecting (410).' }),
    maxClicks: t.int({ description: 'After this many clicks the link answers 410.' }),
  }),
});

builder.mutationField('createLink', (t) =>
  t.field({
    type: LinkPayload,
    nullable: true,
    description: 'Creates a short link (links:write; OWNER or MEMBER).',
    authScopes: onWorkspace('LINKS', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('CreateLink', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: CreateLinkInput, required: true, description: 'The link.' }) },
    resolve: async (_root, { input }, ctx) => {
      const workspaceId = parseIdArg(input.workspaceId, 'Workspace', 'input.workspaceId');
      const projectId = input.projectId == null ? input.projectId : parseIdArg(input.projectId, 'Project', 'input.projectId');
      return { link: await createLink(ctx, { ...input, workspaceId, projectId }) };
    },
  }),
);

const UpdateLinkInput = builder.inputType('UpdateLinkInput', {
  description: 'Changes to a link; omitted fields stay as they are, null clears optional ones.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The global id of the link.' }),
    url: t.string({ description: 'A new destination.' }),
    domain: t.string({ description: "Move the link to another verified domain of the workspace, or to the platform's short domain." }),
    slug: t.string({ description: 'A new custom slug.' }),
    title: t.string({ description: 'A new title.' }),
    description: t.string({ description: 'A new note.' }),
    tags: t.stringList({ description: 'New tags (replace the old ones).' }),
    projectId: t.id({ description: 'A project of the same workspace; null removes it from its project.' }),
    utm: t.field({ type: UtmInput, description: 'New UTM parameters (replace the old ones); null clears them.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'A new expiry; null removes it.' }),
    maxClicks: t.int({ description: 'A new click limit; null removes it.' }),
    archived: t.boolean({ description: 'true archives the link (it answers 410); false restores it.' }),
  }),
});

builder.mutationField('updateLink', (t) =>
  t.field({
    type: LinkPayload,
    nullable: true,
    description: 'Changes, archives or restores a link (links:write; OWNER or MEMBER).',
    authScopes: onOwned('link', 'WRITE'),
    errors: mutationErrors('UpdateLink', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateLinkInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const id = parseIdArg(input.id, 'Link', 'input.id');
      const projectId = input.projectId == null ? input.projectId : parseIdArg(input.projectId, 'Project', 'input.projectId');
      return { link: await updateLink(ctx, { ...input, id, projectId }) };
    },
  }),
);

const LinkIdInput = builder.inputType('LinkIdInput', {
  description: 'Identifies one link.',
  fields: (t) => ({ id: t.id({ required: true, description: 'The global id of the link.' }) }),
});

builder.mutationField('deleteLink', (t) =>
  t.field({
    type: DeletedPayload,
    nullable: true,
    description: 'Deletes a link; its slug becomes free and it answers 404 (links:write; OWNER or MEMBER). Archive instead to keep statistics.',
    authScopes: onOwned('link', 'WRITE'),
    errors: mutationErrors('DeleteLink', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: LinkIdInput, required: true, description: 'The link to delete.' }) },
    resolve: async (_root, { input }, ctx) => {
      const link = await deleteLink(ctx, parseIdArg(input.id, 'Link', 'input.id'));
      return { deletedId: toGlobalId('Link', link._id) };
    },
  }),
);
