import { Types, type QueryFilter } from 'mongoose';
import { ConflictError, isDuplicateKeyError, NotFoundError, ValidationError } from '../errors.ts';
import { chunked } from '../db/bulk.ts';
import { insertMissing, SlotClaimer } from '../db/unique.ts';
import { ClickReservation } from '../models/click-reservation.ts';
import { Domain, type DomainDoc } from '../models/domain.ts';
import { adjustCounters, counterId, counterValues } from '../models/counter.ts';
import { Link, linkCounterDeltas, type LinkDoc } from '../models/link.ts';
import { Slug, slugId, type SlugDoc } from '../models/slug.ts';
import {
  destinationWithUtm,
  generateSlug,
  goneReason,
  PLATFORM_DOMAIN,
  shownDomain,
  SLUG_PATTERN,
  validateExpiry,
  validateSlug,
  validateUtm,
  type UtmValues,
} from '../rules/links.ts';
import { escapeRegex, isPlatformHost, validatePositiveInt, validateTags, validateText } from '../rules/validation.ts';
import type { Actor } from './actor.ts';
import { validateDestination } from './destinations.ts';
import { assertDestinationAllowed, assertDomainAllowed } from './key-restrictions.ts';
import { audit, changesOf } from './audit.ts';
import { listing, newestFirst, visibleWorkspaceIds, type Listing, type ListOrder } from './listing.ts';
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

/** A slug document younger than this may belong to a write in flight (its link not written or renamed yet). */
const STALE_SLUG_AFTER_MS = 60_000;

const slugTaken = (actor: Actor, at: string, slug: string, domain: string) =>
  new ConflictError(`${at}.slug`, `"${slug}" is already taken on ${shownDomain(domain, actor.services.config.shortDomain)}; choose another slug`);

// The slug registry (src/models/slug.ts): a link's slug is claimed by inserting its Slug document
// before the link is written or renamed, and released after; `_id` makes the claim atomic on
// MongoDB and FerretDB alike, and every step is a primary-key operation.

/** Claims `domain`/`slug` for a link: false when another link holds it. */
async function claimSlug(domain: string, slug: string, linkId: Types.ObjectId, workspaceId: Types.ObjectId): Promise<boolean> {
  const _id = slugId(domain, slug);
  for (let attempt = 1; ; attempt++) {
    try {
      await Slug.create({ _id, linkId, workspaceId });
      return true;
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      if (attempt > 1 || !(await dropIfStale(_id, domain, slug))) return false;
    }
  }
}

/**
 * Drops a slug document left by an interrupted write (its link gone or no longer on this slug),
 * so the slug is not taken forever; a young one may be a write in flight and stays.
 */
async function dropIfStale(_id: string, domain: string, slug: string): Promise<boolean> {
  const held = await Slug.findById(_id).lean<SlugDoc>().exec();
  if (!held) return true;
  if (Date.now() - held.createdAt.getTime() < STALE_SLUG_AFTER_MS) return false;
  const link = await Link.findById(held.linkId, { domain: 1, slug: 1 }).lean<Pick<LinkDoc, 'domain' | 'slug'>>().exec();
  if (link && link.domain === domain && link.slug === slug) return false;
  // That very document only: another process may have replaced it meanwhile (a rare, scanning delete).
  await Slug.deleteOne({ _id, linkId: held.linkId, createdAt: held.createdAt });
  return true;
}

/** Frees `domain`/`slug` if `linkId` holds it: a delete by `_id`, putting back a document of another link. */
async function releaseSlug(domain: string, slug: string, linkId: Types.ObjectId): Promise<void> {
  const removed = await Slug.findOneAndDelete({ _id: slugId(domain, slug) }).lean<SlugDoc>().exec();
  if (removed && String(removed.linkId) !== String(linkId)) await insertMissing(Slug, [removed]);
}

/** Undoes a claim after a failed write; the write's own error is what the caller reports. */
const undoClaim = (domain: string, slug: string, linkId: Types.ObjectId) => releaseSlug(domain, slug, linkId).catch(() => undefined);

/**
 * Archives every link on `from` and moves it to the host `to` (their slug documents first, so no
 * link is ever without one). Used when a domain is deleted: the hostname starts clean.
 */
export async function archiveLinksOffHost(from: string, to: string): Promise<void> {
  const moving = await Link.find({ domain: from }, { slug: 1, workspaceId: 1, archived: 1, projectId: 1 })
    .lean<Pick<LinkDoc, '_id' | 'slug' | 'workspaceId' | 'archived' | 'projectId'>[]>()
    .exec();
  await insertMissing(Slug, moving.map((link) => ({ _id: slugId(to, link.slug), linkId: link._id, workspaceId: link.workspaceId })));
  await Link.updateMany({ domain: from }, { $set: { archived: true, domain: to } });
  await adjustCounters(linkCounterDeltas(moving.map((link) => ({ from: link, to: { ...link, archived: true } }))));
  for (const chunk of chunked(moving, 500)) {
    await Slug.deleteMany({ _id: { $in: chunk.map((link) => slugId(from, link.slug)) }, linkId: { $in: chunk.map((link) => link._id) } });
  }
}

/**
 * The domain a link of `workspaceId` may use, as stored: PLATFORM_DOMAIN for the platform's short
 * domain (asked for by its name today, or by default), or a verified domain of that workspace.
 */
export async function resolveLinkDomain(
  actor: Actor,
  workspaceId: Types.ObjectId,
  requested: string | null | undefined,
  at = 'input',
): Promise<string> {
  const shortDomain = actor.services.config.shortDomain;
  if (!requested) {
    const primary = await Domain.findOne({ workspaceId, primary: true, verified: true }).lean<DomainDoc>().exec();
    return primary?.hostname ?? PLATFORM_DOMAIN;
  }
  const host = requested.trim().toLowerCase();
  if (isPlatformHost(host, shortDomain)) return PLATFORM_DOMAIN;
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

/** What a link's audit events record of it. */
const LINK_AUDIT_FIELDS = ['url', 'domain', 'slug', 'title', 'description', 'tags', 'projectId', 'utm', 'expiresAt', 'maxClicks', 'archived'];

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
  assertDestinationAllowed(actor, fields.url, `${at}.url`);
  const customSlug = input.slug ? validateSlug(input.slug, `${at}.slug`) : null;
  const projectId = await resolveProjectId(actor, workspace._id, input.projectId, at);
  const domain = await resolveLinkDomain(actor, workspace._id, input.domain, at);
  assertDomainAllowed(actor, domain, `${at}.domain`);
  // The link's id is chosen first so that its slug document can point at it.
  const linkId = new Types.ObjectId();
  // A generated slug that clashes is drawn again; a custom one is the caller's to change.
  for (let attempt = 1; ; attempt++) {
    const slug = customSlug ?? generateSlug();
    if (await claimSlug(domain, slug, linkId, workspace._id)) {
      try {
        const link = (await Link.create({ _id: linkId, ...fields, projectId, domain, slug })).toObject();
        actor.services.linkCache.invalidate(domain, slug);
        await audit(actor, { action: 'link.created', target: { type: 'Link', id: link._id }, workspaceId: link.workspaceId, changes: changesOf(null, link, LINK_AUDIT_FIELDS) });
        return link;
      } catch (error) {
        await undoClaim(domain, slug, linkId);
        // The link's own unique index: a link stored without its slug document (before the migration).
        if (!isDuplicateKeyError(error)) throw error;
      }
    }
    if (customSlug) throw slugTaken(actor, at, slug, domain);
    if (attempt >= GENERATED_SLUG_ATTEMPTS) throw new ConflictError(`${at}.slug`, 'no free slug was drawn; try again or choose a slug');
  }
}

export async function updateLink(actor: Actor, input: UpdateLinkInput, at = 'input'): Promise<LinkDoc> {
  const link = await requireLink(actor, input.id);
  // A key held to some domains changes only links on them, and moves links only between them.
  assertDomainAllowed(actor, link.domain, `${at}.id`);
  const set: Partial<LinkDoc> = {};
  if (input.url != null) {
    set.url = await validateDestination(input.url, `${at}.url`, { shortDomain: actor.services.config.shortDomain, workspaceId: link.workspaceId });
    assertDestinationAllowed(actor, set.url, `${at}.url`);
  }
  if (input.slug != null) set.slug = validateSlug(input.slug, `${at}.slug`);
  if (input.domain != null) {
    set.domain = await resolveLinkDomain(actor, link.workspaceId, input.domain, at);
    assertDomainAllowed(actor, set.domain, `${at}.domain`);
  }
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
  // A new slug or domain: claim it, write, then free the old one; a failed write undoes the claim.
  if (moved && !(await claimSlug(domain, slug, link._id, link.workspaceId))) throw slugTaken(actor, at, slug, domain);
  let updated: LinkDoc | null;
  try {
    updated = await Link.findOneAndUpdate({ _id: link._id }, { $set: set }, { returnDocument: 'after' }).lean<LinkDoc>().exec();
  } catch (error) {
    if (moved) await undoClaim(domain, slug, link._id);
    if (isDuplicateKeyError(error)) throw slugTaken(actor, at, slug, domain);
    throw error;
  }
  if (!updated) {
    if (moved) await undoClaim(domain, slug, link._id);
    throw new NotFoundError('Link');
  }
  if (moved) await releaseSlug(link.domain, link.slug, link._id);
  // Archived, restored or moved to another project: nothing is written when the counters stay.
  await adjustCounters(linkCounterDeltas([{ from: link, to: updated }]));
  actor.services.linkCache.invalidate(link.domain, link.slug);
  actor.services.linkCache.invalidate(updated.domain, updated.slug);
  await audit(actor, { action: 'link.updated', target: { type: 'Link', id: link._id }, workspaceId: link.workspaceId, changes: changesOf(link, set) });
  return updated;
}

/** Deletes a link; its slug is free again at once. Returns the link as it was. */
export async function deleteLink(actor: Actor, id: Types.ObjectId): Promise<LinkDoc> {
  const link = await requireLink(actor, id);
  assertDomainAllowed(actor, link.domain, 'input.id');
  const { deletedCount } = await Link.deleteOne({ _id: link._id });
  // Only the request that deleted it uncounts it (two concurrent deletes read the same link).
  if (deletedCount === 1) await adjustCounters(linkCounterDeltas([{ from: link, to: null }]));
  // A process stopped between the two leaves an orphaned slug document: it reads as no link and is dropped once stale.
  await releaseSlug(link.domain, link.slug, link._id);
  if (link.maxClicks != null) await ClickReservation.deleteMany({ linkId: link._id });
  actor.services.linkCache.invalidate(link.domain, link.slug);
  if (deletedCount === 1) await audit(actor, { action: 'link.deleted', target: { type: 'Link', id: link._id }, workspaceId: link.workspaceId, changes: changesOf(link, null, ['url', 'domain', 'slug']) });
  return link;
}

function linkQuery(workspaceIds: Types.ObjectId[], filter: LinkFilterInput | null | undefined, shortDomain = ''): QueryFilter<LinkDoc> {
  const query: QueryFilter<LinkDoc> = { workspaceId: { $in: workspaceIds }, archived: filter?.archived ?? false };
  if (filter?.projectId != null) query.projectId = filter.projectId;
  if (filter?.domain) query.domain = domainFilter(filter.domain, shortDomain);
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

/** The stored domain a filter's hostname means: the short domain (any spelling) is the platform's; the marker is no hostname. */
function domainFilter(hostname: string, shortDomain: string): QueryFilter<LinkDoc>['domain'] {
  const host = hostname.trim().toLowerCase();
  if (isPlatformHost(host, shortDomain)) return PLATFORM_DOMAIN;
  return host === PLATFORM_DOMAIN ? { $in: [] } : host;
}

/** Only `archived` (or nothing) is set: the list's size is a maintained counter. */
function isUnfiltered(filter: LinkFilterInput | null | undefined): boolean {
  if (!filter) return true;
  return filter.projectId == null && !filter.domain && !filter.tag && !filter.search && !filter.createdAfter && !filter.createdBefore;
}

/** The sum of counters: one `{ _id }` read for one workspace. */
const countersTotal = async (ids: string[]) => (await counterValues(ids)).reduce((sum, n) => sum + n, 0);

/**
 * Links of the workspaces the actor may see (archived ones only when asked), newest first by
 * default. Unfiltered, its totalCount is read from counters; a filtered list is counted.
 */
export async function links(actor: Actor, input: LinksInput): Promise<Listing<LinkDoc>> {
  const workspaceIds = await visibleWorkspaceIds(actor, input.workspaceId ?? null);
  const field = input.orderBy?.field ?? 'createdAt';
  const direction = input.orderBy?.direction ?? -1;
  const order: ListOrder = { key: `link.${field}.${direction}`, field, direction, type: field === 'clicks' ? 'number' : 'date' };
  const kind = input.filter?.archived ? 'archivedLinks' : 'links';
  const count = isUnfiltered(input.filter) ? () => countersTotal(workspaceIds.map((id) => counterId(kind, id))) : undefined;
  return listing(Link, linkQuery(workspaceIds, input.filter, actor.services.config.shortDomain), order, count);
}

/** The active links of a workspace already shown to the actor, newest first. */
export function workspaceLinks(workspace: { _id: Types.ObjectId }): Listing<LinkDoc> {
  return listing(Link, linkQuery([workspace._id], null), newestFirst('link'), () => countersTotal([counterId('links', workspace._id)]));
}

/** The active links of a project already shown to the actor, newest first. */
export function projectLinks(project: { _id: Types.ObjectId; workspaceId: Types.ObjectId }): Listing<LinkDoc> {
  const filter = { workspaceId: project.workspaceId, projectId: project._id, archived: false };
  return listing(Link, filter, newestFirst('link'), () => countersTotal([counterId('projectLinks', project._id)]));
}

/** What a request for `host`/`slug` on the redirect side answers. */
export type RedirectOutcome =
  | { kind: 'redirect'; location: string; link: LinkDoc }
  | { kind: 'gone'; reason: string; fallback: string | null }
  | { kind: 'notFound'; fallback: string | null };

/**
 * Where a short URL sends people. `host` is PLATFORM_DOMAIN (a request on the platform's short
 * domain) or a custom hostname (lowercased); reads go through the link cache, so a hot link costs
 * no database round trip.
 */
export async function resolveRedirect(
  actor: Pick<Actor, 'services'>,
  host: string,
  slug: string,
  /** Whether this request would count as a click (a GET by a person): asked only of links with maxClicks. */
  countsClick: () => boolean = () => false,
): Promise<RedirectOutcome> {
  const { linkCache } = actor.services;
  const domain = host === PLATFORM_DOMAIN ? null : await linkCache.findDomain(host);
  const cached = needsLink(host, slug, domain) ? await linkCache.find(host, slug) : null;
  const outcome = redirectOutcome(actor.services, host, domain, cached);
  if (outcome.kind !== 'redirect' || outcome.link.maxClicks == null) return outcome;
  // A person takes a click; a bot or HEAD request only looks whether the last one is taken.
  if (countsClick() ? await reserveClick(outcome.link) : !(await lastClickTaken(outcome.link))) return outcome;
  return { kind: 'gone', reason: goneReason(outcome.link, outcome.link.maxClicks) ?? 'This link reached its click limit.', fallback: domain?.notFoundUrl ?? null };
}

const clickSlots = new SlotClaimer(ClickReservation);

/**
 * Takes one of a limited link's clicks, exactly once across every instance: click n is the
 * insert of its reservation document. Clicks already written to the link (made before the limit
 * was set, or reserved and flushed) are taken, so numbering starts after them.
 */
async function reserveClick(link: LinkDoc): Promise<boolean> {
  return (await clickSlots.claim(String(link._id), link.maxClicks ?? Number.POSITIVE_INFINITY, link.clicks + 1, { linkId: link._id })) !== null;
}

/** Whether a limited link's last click is taken (one read by `_id`): for requests that take none. */
async function lastClickTaken(link: LinkDoc): Promise<boolean> {
  return (await ClickReservation.exists({ _id: `${String(link._id)}:${link.maxClicks}` })) !== null;
}

/**
 * The same answer from the link cache alone, without waiting: undefined when something is not
 * cached yet (then resolveRedirect reads it). Lets the server answer hot links on its fast path.
 */
export function resolveCachedRedirect(services: Actor['services'], host: string, slug: string): RedirectOutcome | undefined {
  const { linkCache } = services;
  const domain = host === PLATFORM_DOMAIN ? null : linkCache.peekDomain(host);
  if (domain === undefined) return undefined;
  const cached = needsLink(host, slug, domain) ? linkCache.peek(host, slug) : null;
  if (cached === undefined) return undefined;
  const outcome = redirectOutcome(services, host, domain, cached);
  // A limited link's click is reserved in the database first: only resolveRedirect does that.
  return outcome.kind === 'redirect' && outcome.link.maxClicks != null ? undefined : outcome;
}

/** A link is looked up only on the platform domain or a verified custom domain, for a possible slug. */
function needsLink(host: string, slug: string, domain: DomainDoc | null): boolean {
  return (host === PLATFORM_DOMAIN || !!domain?.verified) && SLUG_PATTERN.test(slug);
}

/** The redirect rules, from the host's custom domain (null on the platform domain) and the cached link. */
function redirectOutcome(
  services: Actor['services'],
  host: string,
  domain: DomainDoc | null,
  cached: { link: LinkDoc | null } | null,
): RedirectOutcome {
  // Anyone can add any hostname to a workspace; until it is verified it serves nothing of the
  // workspace (no notFoundUrl, no link), or it would be an open redirect on someone else's name.
  if (host !== PLATFORM_DOMAIN && !domain?.verified) return { kind: 'notFound', fallback: null };
  const fallback = domain?.notFoundUrl ?? null;
  let link = cached?.link;
  // A link left on a hostname that another workspace has since verified is not theirs to serve.
  if (link && domain && String(link.workspaceId) !== String(domain.workspaceId)) link = null;
  if (!link || !cached) return { kind: 'notFound', fallback };
  // Clicks written so far; a limited link's last clicks are decided by their reservations (resolveRedirect).
  const reason = goneReason(link, link.clicks);
  if (reason) return { kind: 'gone', reason, fallback };
  return { kind: 'redirect', location: destinationWithUtm(link), link };
}
