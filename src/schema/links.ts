import { Types, type QueryFilter } from 'mongoose';
import type { Context } from '../context.ts';
import {
  escapeRegex,
  generateSlug,
  validatePositiveInt,
  validateSlug,
  validateTags,
  validateText,
} from '../rules/validation.ts';
import { validateDestination } from '../core/destinations.ts';
import { ConflictError, isDuplicateKeyError, NotFoundError, ValidationError } from '../errors.ts';
import { Domain, type DomainDoc } from '../models/domain.ts';
import { Link, type LinkDoc, type Utm } from '../models/link.ts';
import { builder } from './builder.ts';
import { DomainRef } from './domains.ts';
import { mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg, workspaceOf } from './guards.ts';
import { parseQueryIdArg, toGlobalId } from './ids.ts';
import { findByGlobalId, loadAll, loadByGlobalId, requireByGlobalId } from './loaders.ts';
import { connectionType, paginate } from './pagination.ts';
import { ProjectRef } from './projects.ts';
import { visibleWorkspaceFilter } from './workspace-lists.ts';
import { ownUserOrPersonalData, UserRef } from './users.ts';
import { WorkspaceRef } from './workspace-ref.ts';
import { DeletedPayload } from './workspaces.ts';

const UTM_FIELDS = ['source', 'medium', 'campaign', 'term', 'content'] as const;

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

export function shortUrl(link: Pick<LinkDoc, 'domain' | 'slug'>): string {
  const local = /^(localhost|127\.0\.0\.1)(:\d+)?$/.test(link.domain);
  return `${local ? 'http' : 'https'}://${link.domain}/${link.slug}`;
}

export const LinkRef = builder.objectRef<LinkDoc>('Link');

builder.node(LinkRef, {
  description: 'A short link: a slug on a domain that redirects to a destination URL.',
  // Reading a link needs links:read too, however it is reached (node(id:), a project, stats).
  authScopes: (link) => ({ visibleWorkspace: String(link.workspaceId), access: { resource: 'LINKS', level: 'READ' } }),
  id: { resolve: (link) => String(link._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.link, ids),
  isTypeOf: (value) => value instanceof Object && 'slug' in value && 'url' in value,
  fields: (t) => ({
    url: t.exposeString('url', { description: 'The destination: an absolute http(s) URL.' }),
    hostname: t.exposeString('domain', { description: 'The host the link answers on (the platform domain or a custom one).' }),
    domain: t.field({
      type: DomainRef,
      nullable: true,
      description: "The custom domain of the link; null when it uses the platform's short domain.",
      resolve: (link, _args, ctx) => (link.domain === ctx.services.config.shortDomain ? null : ctx.loaders.domainByHost.load(link.domain)),
    }),
    slug: t.exposeString('slug', { description: 'The path after the domain (case-sensitive).' }),
    shortUrl: t.string({ description: 'The full short URL to share.', resolve: (link) => shortUrl(link) }),
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
    domain: t.string({ description: 'Only links on this hostname.' }),
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

type LinkFilterShape = typeof LinkFilter.$inferInput;

function linkQuery(workspaceIds: Types.ObjectId[], filter: LinkFilterShape | null | undefined): QueryFilter<LinkDoc> {
  const query: QueryFilter<LinkDoc> = { workspaceId: { $in: workspaceIds }, archived: filter?.archived ?? false };
  if (filter?.projectId != null) query.projectId = parseQueryIdArg(filter.projectId, 'Project', 'filter.projectId');
  if (filter?.domain) query.domain = filter.domain.trim().toLowerCase();
  if (filter?.tag) query.tags = filter.tag;
  if (filter?.createdAfter || filter?.createdBefore) {
    query.createdAt = {
      ...(filter.createdAfter ? { $gte: filter.createdAfter } : {}),
      ...(filter.createdBefore ? { $lt: filter.createdBefore } : {}),
    };
  }
  if (filter?.search) {
    const pattern = { $regex: escapeRegex(filter.search.slice(0, 200)), $options: 'i' };
    query.$or = [{ url: pattern }, { slug: pattern }, { title: pattern }];
  }
  return query;
}

const linkConnection = connectionType(LinkRef, 'Link', 'links');

builder.queryField('links', (t) =>
  t.connection(
    {
      type: LinkRef,
      nullable: true,
      description: 'Links of a workspace (or of every workspace the key can reach), filtered and sorted.',
      authScopes: { access: { resource: 'LINKS', level: 'READ' } },
      args: {
        workspaceId: t.arg.id({ description: 'Only this workspace; omit for all.' }),
        filter: t.arg({ type: LinkFilter, description: 'Conditions.' }),
        orderBy: t.arg({ type: LinkOrder, description: 'Sort order (default: newest first).' }),
      },
      resolve: async (_root, args, ctx) => {
        const workspaceIds = await visibleWorkspaceFilter(ctx, args.workspaceId);
        const sort = { [args.orderBy?.field ?? 'createdAt']: args.orderBy?.direction ?? -1 } as Record<string, 1 | -1>;
        return paginate(Link, linkQuery(workspaceIds, args.filter), sort, args);
      },
    },
    linkConnection,
  ),
);

builder.objectField(WorkspaceRef, 'links', (t) =>
  t.connection(
    {
      type: LinkRef,
      description: "This workspace's active links, newest first (links:read).",
      authScopes: { access: { resource: 'LINKS', level: 'READ' } },
      resolve: (workspace, args) => paginate(Link, linkQuery([workspace._id], null), { createdAt: -1 }, args),
    },
    linkConnection,
  ),
);

builder.objectField(ProjectRef, 'links', (t) =>
  t.connection(
    {
      type: LinkRef,
      description: "This project's active links, newest first (links:read).",
      authScopes: { access: { resource: 'LINKS', level: 'READ' } },
      resolve: (project, args) =>
        paginate(Link, { workspaceId: project.workspaceId, projectId: project._id, archived: false }, { createdAt: -1 }, args),
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



/** The host a link of `workspaceId` may use: the platform domain, or a verified domain of that workspace. */
async function resolveLinkDomain(ctx: Context, workspaceId: Types.ObjectId, requested: string | null | undefined): Promise<string> {
  const shortDomain = ctx.services.config.shortDomain;
  if (!requested) {
    const primary = await Domain.findOne({ workspaceId, primary: true, verified: true }).lean<DomainDoc>().exec();
    return primary?.hostname ?? shortDomain;
  }
  const host = requested.trim().toLowerCase();
  if (host === shortDomain) return shortDomain;
  const domain = await Domain.findOne({ hostname: host, workspaceId }).lean<DomainDoc>().exec();
  if (!domain) throw new ValidationError('input.domain', `${host} is not a domain of this workspace; add it with addDomain or use ${shortDomain}`);
  if (!domain.verified) throw new ValidationError('input.domain', `${host} is not verified yet; publish its TXT record and call verifyDomain`);
  return host;
}

async function resolveProjectId(ctx: Context, workspaceId: Types.ObjectId, globalId: string | null | undefined): Promise<Types.ObjectId | null> {
  if (globalId === null || globalId === undefined) return null;
  const project = await findByGlobalId(ctx, 'project', globalId, 'input.projectId');
  if (!project || String(project.workspaceId) !== String(workspaceId)) {
    throw new ValidationError('input.projectId', 'no such project in this workspace');
  }
  return project._id;
}

function validateUtm(utm: typeof UtmInput.$inferInput | null | undefined): Utm | null {
  if (!utm) return null;
  const cleaned: Utm = {};
  for (const field of UTM_FIELDS) {
    const value = validateText(utm[field], `input.utm.${field}`, 200);
    if (value) cleaned[field] = value;
  }
  return Object.keys(cleaned).length > 0 ? cleaned : null;
}

function validateExpiry(expiresAt: Date | null | undefined): Date | null {
  if (!expiresAt) return null;
  if (expiresAt.getTime() <= Date.now()) throw new ValidationError('input.expiresAt', 'expiresAt must be in the future');
  return expiresAt;
}

const LinkPayload = builder.objectRef<{ link: LinkDoc }>('LinkPayload').implement({
  description: 'The link after the change.',
  fields: (t) => ({ link: t.field({ type: LinkRef, description: 'The link.', resolve: (p) => p.link }) }),
});

const CreateLinkInput = builder.inputType('CreateLinkInput', {
  description: 'A new short link.',
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    url: t.string({ required: true, description: 'The destination: an absolute http(s) URL, at most 2048 characters.' }),
    domain: t.string({ description: "A verified domain of the workspace; default: its primary domain, else the platform's." }),
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

const GENERATED_SLUG_ATTEMPTS = 5;

builder.mutationField('createLink', (t) =>
  t.field({
    type: LinkPayload,
    nullable: true,
    description: 'Creates a short link (links:write; OWNER or MEMBER).',
    authScopes: onWorkspace('LINKS', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('CreateLink', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: CreateLinkInput, required: true, description: 'The link.' }) },
    resolve: async (_root, { input }, ctx) => {
      const workspace = await requireByGlobalId(ctx, 'workspace', input.workspaceId, 'input.workspaceId');
      const fields = {
        workspaceId: workspace._id,
        url: await validateDestination(input.url, 'input.url', { shortDomain: ctx.services.config.shortDomain, workspaceId: workspace._id }),
        title: validateText(input.title, 'input.title', 200),
        description: validateText(input.description, 'input.description', 1000),
        tags: validateTags(input.tags ?? [], 'input.tags'),
        utm: validateUtm(input.utm),
        expiresAt: validateExpiry(input.expiresAt),
        maxClicks: validatePositiveInt(input.maxClicks, 'input.maxClicks'),
        createdByUserId: new Types.ObjectId(ctx.key!.userId),
        createdByKeyId: new Types.ObjectId(ctx.key!.id),
      };
      const customSlug = input.slug ? validateSlug(input.slug, 'input.slug') : null;
      const projectId = await resolveProjectId(ctx, workspace._id, input.projectId);
      const domain = await resolveLinkDomain(ctx, workspace._id, input.domain);
      for (let attempt = 1; ; attempt++) {
        const slug = customSlug ?? generateSlug();
        try {
          const link = (await Link.create({ ...fields, projectId, domain, slug })).toObject();
          ctx.services.linkCache.invalidate(domain, slug);
          return { link };
        } catch (error) {
          if (!isDuplicateKeyError(error)) throw error;
          if (customSlug) throw new ConflictError('input.slug', `"${slug}" is already taken on ${domain}; choose another slug`);
          if (attempt >= GENERATED_SLUG_ATTEMPTS) throw error;
        }
      }
    },
  }),
);

const UpdateLinkInput = builder.inputType('UpdateLinkInput', {
  description: 'Changes to a link; omitted fields stay as they are, null clears optional ones.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The global id of the link.' }),
    url: t.string({ description: 'A new destination.' }),
    domain: t.string({ description: 'Move the link to another verified domain of the workspace.' }),
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

const linkWorkspace = ({ input }: { input: { id: string } }, ctx: Context) => workspaceOf(ctx, 'link', input.id);

builder.mutationField('updateLink', (t) =>
  t.field({
    type: LinkPayload,
    nullable: true,
    description: 'Changes, archives or restores a link (links:write; OWNER or MEMBER).',
    authScopes: onWorkspace('LINKS', 'WRITE', linkWorkspace),
    errors: mutationErrors('UpdateLink', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateLinkInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const link = await requireByGlobalId(ctx, 'link', input.id, 'input.id');
      const set: Partial<LinkDoc> = {};
      if (input.url != null) set.url = await validateDestination(input.url, 'input.url', { shortDomain: ctx.services.config.shortDomain, workspaceId: link.workspaceId });
      if (input.slug != null) set.slug = validateSlug(input.slug, 'input.slug');
      if (input.domain != null) set.domain = await resolveLinkDomain(ctx, link.workspaceId, input.domain);
      if (input.title !== undefined) set.title = validateText(input.title, 'input.title', 200);
      if (input.description !== undefined) set.description = validateText(input.description, 'input.description', 1000);
      if (input.tags != null) set.tags = validateTags(input.tags, 'input.tags');
      if (input.projectId !== undefined) set.projectId = await resolveProjectId(ctx, link.workspaceId, input.projectId);
      if (input.utm !== undefined) set.utm = validateUtm(input.utm);
      if (input.expiresAt !== undefined) set.expiresAt = validateExpiry(input.expiresAt);
      if (input.maxClicks !== undefined) set.maxClicks = validatePositiveInt(input.maxClicks, 'input.maxClicks');
      if (input.archived != null) set.archived = input.archived;
      const slug = set.slug ?? link.slug;
      const domain = set.domain ?? link.domain;
      // Checked up front as well: FerretDB 1.24 reports a unique-index clash on update as a generic
      // InternalError, not 11000 (inserts do give 11000), so the catch below only covers MongoDB races.
      if ((slug !== link.slug || domain !== link.domain) && (await Link.exists({ domain, slug, _id: { $ne: link._id } }))) {
        throw new ConflictError('input.slug', `"${slug}" is already taken on ${domain}; choose another slug`);
      }
      let updated: LinkDoc | null;
      try {
        updated = await Link.findOneAndUpdate({ _id: link._id }, { $set: set }, { new: true }).lean<LinkDoc>().exec();
      } catch (error) {
        if (isDuplicateKeyError(error)) {
          throw new ConflictError('input.slug', `"${slug}" is already taken on ${domain}; choose another slug`);
        }
        throw error;
      }
      if (!updated) throw new NotFoundError('Link');
      ctx.services.linkCache.invalidate(link.domain, link.slug);
      ctx.services.linkCache.invalidate(updated.domain, updated.slug);
      return { link: updated };
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
    authScopes: onWorkspace('LINKS', 'WRITE', linkWorkspace),
    errors: mutationErrors('DeleteLink', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: LinkIdInput, required: true, description: 'The link to delete.' }) },
    resolve: async (_root, { input }, ctx) => {
      const link = await requireByGlobalId(ctx, 'link', input.id, 'input.id');
      await Link.deleteOne({ _id: link._id });
      ctx.services.linkCache.invalidate(link.domain, link.slug);
      return { deletedId: toGlobalId('Link', link._id) };
    },
  }),
);
