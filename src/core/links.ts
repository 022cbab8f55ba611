import { Types, type QueryFilter, type SortOrder } from 'mongoose';
import { ConflictError, isDuplicateKeyError, NotFoundError, ValidationError } from '../errors.ts';
import { updateByIdUnique } from '../db/unique.ts';
import { Domain, type DomainDoc } from '../models/domain.ts';
import { Link, type LinkDoc } from '../models/link.ts';
import {
  destinationWithUtm,
  generateSlug,
  goneReason,
  SLUG_PATTERN,
  validateExpiry,
  validateSlug,
  validateUtm,
  type UtmValues,
} from '../rules/links.ts';
import { escapeRegex, validatePositiveInt, validateTags, validateText } from '../rules/validation.ts';
import type { Actor } from './actor.ts';
import { validateDestination } from './destinations.ts';
import { listing, visibleWorkspaceIds, type Listing } from './listing.ts';
import { actingUserId } from './users.ts';

export type { LinkDoc, Utm } from '../models/link.ts';

export interface CreateLinkInput {
  workspaceId: Types.ObjectId;
  url: string;
  domain?: string | null;
  slug?: string | null;
  title?: string | null;
  description?: string | null;
  tags?: readonly string[] | null;
  projectId?: Types.ObjectId | null;
  utm?: UtmValues | null;
  expiresAt?: Date | null;
  maxClicks?: number | null;
}

/** Changes to a link: undefined leaves a field as it is, null clears an optional one. */
export interface UpdateLinkInput extends Omit<CreateLinkInput, 'workspaceId' | 'url'> {
  id: Types.ObjectId;
  url?: string | null;
  archived?: boolean | null;
}

export interface LinkFilterInput {
  projectId?: Types.ObjectId | null;
  domain?: string | null;
  tag?: string | null;
  search?: string | null;
  archived?: boolean | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
}

export type LinkOrderField = 'createdAt' | 'updatedAt' | 'clicks';

export interface LinksInput {
  /** Only this workspace (none when the actor may not see it); null for every visible one. */
  workspaceId?: Types.ObjectId | null;
  filter?: LinkFilterInput | null;
  orderBy?: { field: LinkOrderField; direction?: 1 | -1 | null } | null;
}

const GENERATED_SLUG_ATTEMPTS = 5;
const MAX_SEARCH_LENGTH = 200;

const slugTaken = (at: string, slug: string, domain: string) =>
  new ConflictError(`${at}.slug`, `"${slug}" is already taken on ${domain}; choose another slug`);

/** The host a link of `workspaceId` may use: the platform domain, or a verified domain of that workspace. */
export async function resolveLinkDomain(
  actor: Actor,
  workspaceId: Types.ObjectId,
  requested: string | null | undefined,
  at = 'input',
): Promise<string> {
  const shortDomain = actor.services.config.shortDomain;
  if (!requested) {
    const primary = await Domain.findOne({ workspaceId, primary: true, verified: true }).lean<DomainDoc>().exec();
    return primary?.hostname ?? shortDomain;
  }
  const host = requested.trim().toLowerCase();
  if (host === shortDomain) return shortDomain;
  const domain = await Domain.findOne({ hostname: host, workspaceId }).lean<DomainDoc>().exec();
  const field = `${at}.domain`;
  if (!domain) throw new ValidationError(field, `${host} is not a domain of this workspace; add it with addDomain or use ${shortDomain}`);
  if (!domain.verified) throw new ValidationError(field, `${host} is not verified yet; publish its TXT record and call verifyDomain`);
  return host;
}

/** A project of the link's workspace (one the actor may not see is no such project), or null for none. */
export async function resolveProjectId(
  actor: Actor,
  workspaceId: Types.ObjectId,
  projectId: Types.ObjectId | null | undefined,
  at = 'input',
): Promise<Types.ObjectId | null> {
  if (projectId === null || projectId === undefined) return null;
  const project = await actor.loaders.project.load(String(projectId));
  if (!project || String(project.workspaceId) !== String(workspaceId)) {
    throw new ValidationError(`${at}.projectId`, 'no such project in this workspace');
  }
  return project._id;
}

/** A link the actor may see, or NotFoundError (the same for one that does not exist). */
async function requireLink(actor: Actor, id: Types.ObjectId): Promise<LinkDoc> {
  const link = await actor.loaders.link.load(String(id));
  if (!link) throw new NotFoundError('Link');
  return link;
}

export async function createLink(actor: Actor, input: CreateLinkInput, at = 'input'): Promise<LinkDoc> {
  const workspace = await actor.loaders.workspace.load(String(input.workspaceId));
  if (!workspace) throw new NotFoundError('Workspace');
  const shortDomain = actor.services.config.shortDomain;
  const fields = {
    workspaceId: workspace._id,
    url: await validateDestination(input.url, `${at}.url`, { shortDomain, workspaceId: workspace._id }),
    title: validateText(input.title, `${at}.title`, 200),
    description: validateText(input.description, `${at}.description`, 1000),
    tags: validateTags(input.tags ?? [], `${at}.tags`),
    utm: validateUtm(input.utm, `${at}.utm`),
    expiresAt: validateExpiry(input.expiresAt, `${at}.expiresAt`),
    maxClicks: validatePositiveInt(input.maxClicks, `${at}.maxClicks`),
    createdByUserId: actingUserId(actor),
    createdByKeyId: actor.key ? new Types.ObjectId(actor.key.id) : null,
  };
  const customSlug = input.slug ? validateSlug(input.slug, `${at}.slug`) : null;
  const projectId = await resolveProjectId(actor, workspace._id, input.projectId, at);
  const domain = await resolveLinkDomain(actor, workspace._id, input.domain, at);
  // A generated slug that clashes is drawn again; a custom one is the caller's to change.
  for (let attempt = 1; ; attempt++) {
    const slug = customSlug ?? generateSlug();
    try {
      const link = (await Link.create({ ...fields, projectId, domain, slug })).toObject();
      actor.services.linkCache.invalidate(domain, slug);
      return link;
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      if (customSlug) throw slugTaken(at, slug, domain);
      if (attempt >= GENERATED_SLUG_ATTEMPTS) throw error;
    }
  }
}

export async function updateLink(actor: Actor, input: UpdateLinkInput, at = 'input'): Promise<LinkDoc> {
  const link = await requireLink(actor, input.id);
  const set: Partial<LinkDoc> = {};
  if (input.url != null) {
    set.url = await validateDestination(input.url, `${at}.url`, { shortDomain: actor.services.config.shortDomain, workspaceId: link.workspaceId });
  }
  if (input.slug != null) set.slug = validateSlug(input.slug, `${at}.slug`);
  if (input.domain != null) set.domain = await resolveLinkDomain(actor, link.workspaceId, input.domain, at);
  if (input.title !== undefined) set.title = validateText(input.title, `${at}.title`, 200);
  if (input.description !== undefined) set.description = validateText(input.description, `${at}.description`, 1000);
  if (input.tags != null) set.tags = validateTags(input.tags, `${at}.tags`);
  if (input.projectId !== undefined) set.projectId = await resolveProjectId(actor, link.workspaceId, input.projectId, at);
  if (input.utm !== undefined) set.utm = validateUtm(input.utm, `${at}.utm`);
  if (input.expiresAt !== undefined) set.expiresAt = validateExpiry(input.expiresAt, `${at}.expiresAt`);
  if (input.maxClicks !== undefined) set.maxClicks = validatePositiveInt(input.maxClicks, `${at}.maxClicks`);
  if (input.archived != null) set.archived = input.archived;
  const slug = set.slug ?? link.slug;
  const domain = set.domain ?? link.domain;
  const moved = slug !== link.slug || domain !== link.domain;
  let updated: LinkDoc | null;
  try {
    updated = await updateByIdUnique(Link, link._id, set, moved ? { domain, slug } : null);
  } catch (error) {
    if (isDuplicateKeyError(error)) throw slugTaken(at, slug, domain);
    throw error;
  }
  if (!updated) throw new NotFoundError('Link');
  actor.services.linkCache.invalidate(link.domain, link.slug);
  actor.services.linkCache.invalidate(updated.domain, updated.slug);
  return updated;
}

/** Deletes a link; its slug is free again at once. Returns the link as it was. */
export async function deleteLink(actor: Actor, id: Types.ObjectId): Promise<LinkDoc> {
  const link = await requireLink(actor, id);
  await Link.deleteOne({ _id: link._id });
  actor.services.linkCache.invalidate(link.domain, link.slug);
  return link;
}

function linkQuery(workspaceIds: Types.ObjectId[], filter: LinkFilterInput | null | undefined): QueryFilter<LinkDoc> {
  const query: QueryFilter<LinkDoc> = { workspaceId: { $in: workspaceIds }, archived: filter?.archived ?? false };
  if (filter?.projectId != null) query.projectId = filter.projectId;
  if (filter?.domain) query.domain = filter.domain.trim().toLowerCase();
  if (filter?.tag) query.tags = filter.tag;
  if (filter?.createdAfter || filter?.createdBefore) {
    query.createdAt = {
      ...(filter.createdAfter ? { $gte: filter.createdAfter } : {}),
      ...(filter.createdBefore ? { $lt: filter.createdBefore } : {}),
    };
  }
  if (filter?.search) {
    const pattern = { $regex: escapeRegex(filter.search.slice(0, MAX_SEARCH_LENGTH)), $options: 'i' };
    query.$or = [{ url: pattern }, { slug: pattern }, { title: pattern }];
  }
  return query;
}

/** Links of the workspaces the actor may see (archived ones only when asked), newest first by default. */
export async function links(actor: Actor, input: LinksInput): Promise<Listing<LinkDoc>> {
  const workspaceIds = await visibleWorkspaceIds(actor, input.workspaceId ?? null);
  const sort: Record<string, SortOrder> = { [input.orderBy?.field ?? 'createdAt']: input.orderBy?.direction ?? -1 };
  return listing(Link, linkQuery(workspaceIds, input.filter), sort);
}

/** The active links of a workspace already shown to the actor, newest first. */
export function workspaceLinks(workspace: { _id: Types.ObjectId }): Listing<LinkDoc> {
  return listing(Link, linkQuery([workspace._id], null), { createdAt: -1 });
}

/** The active links of a project already shown to the actor, newest first. */
export function projectLinks(project: { _id: Types.ObjectId; workspaceId: Types.ObjectId }): Listing<LinkDoc> {
  return listing(Link, { workspaceId: project.workspaceId, projectId: project._id, archived: false }, { createdAt: -1 });
}

/** What a request for `host`/`slug` on the redirect side answers. */
export type RedirectOutcome =
  | { kind: 'redirect'; location: string; link: LinkDoc }
  | { kind: 'gone'; reason: string; fallback: string | null }
  | { kind: 'notFound'; fallback: string | null };

/**
 * Where a short URL sends people. `host` is the platform's short domain or a custom hostname
 * (lowercased); reads go through the link cache, so a hot link costs no database round trip.
 */
export async function resolveRedirect(actor: Pick<Actor, 'services'>, host: string, slug: string): Promise<RedirectOutcome> {
  const { config, linkCache, clicks } = actor.services;
  let domain: DomainDoc | null = null;
  if (host !== config.shortDomain) {
    domain = await linkCache.findDomain(host);
    // Anyone can add any hostname to a workspace; until it is verified it serves nothing of the
    // workspace (no notFoundUrl, no link), or it would be an open redirect on someone else's name.
    if (!domain?.verified) return { kind: 'notFound', fallback: null };
  }
  const fallback = domain?.notFoundUrl ?? null;
  const cached = SLUG_PATTERN.test(slug) ? await linkCache.find(host, slug) : null;
  let link = cached?.link;
  // A link left on a hostname that another workspace has since verified is not theirs to serve.
  if (link && domain && String(link.workspaceId) !== String(domain.workspaceId)) link = null;
  if (!link || !cached) return { kind: 'notFound', fallback };
  const clicksSoFar = link.clicks + clicks.unseenSince(String(link._id), cached.clickMark);
  const reason = goneReason(link, clicksSoFar);
  if (reason) return { kind: 'gone', reason, fallback };
  return { kind: 'redirect', location: destinationWithUtm(link), link };
}
