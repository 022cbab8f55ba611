import mongoose, { type AnyBulkWriteOperation, type Types } from 'mongoose';
import type { Logger } from 'pino';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { ApiKeySecret, type ApiKeySecretDoc } from '../models/api-key-secret.ts';
import {
  BREAKDOWN_OF,
  BREAKDOWNS,
  capKeys,
  ClickDay,
  encodeCounterKey,
  linkDayId,
  MAX_KEYS_PER_LINK_DAY,
  MAX_KEYS_PER_WORKSPACE_DAY,
  workspaceDayId,
  type Breakdown,
  type ClickDayDoc,
  type DayCounts,
} from '../models/click-day.ts';
import { Domain, type DomainDoc } from '../models/domain.ts';
import { DomainHost, type DomainHostDoc } from '../models/domain-host.ts';
import { Link, type LinkDoc } from '../models/link.ts';
import { Slug, slugId, type SlugDoc } from '../models/slug.ts';
import { PLATFORM_DOMAIN } from '../rules/links.ts';
import { UserRoles, type UserRolesDoc } from '../models/user-roles.ts';
import { Membership, type MembershipDoc } from '../models/workspace.ts';
import { bulkWriteInChunks, chunked } from './bulk.ts';
import { recountLinkCounters } from './recount.ts';
import { insertMissing } from './unique.ts';

/** Where finished migrations are recorded, one document per migration (`_id` = its name). */
const MIGRATIONS = 'migrations';
const KEY_SECRETS = 'api-key-secrets';
const LINK_SLUGS = 'link-slugs';
const USER_ROLES = 'user-roles';
const CLICK_DAYS = 'click-days';
/** Link days converted between two progress lines (written BULK_CHUNK_SIZE at a time). */
const CONVERT_BATCH = 1000;
const LINK_COUNTERS = 'link-counters';
const DOMAIN_HOSTS = 'domain-hosts';
const PLATFORM_LINKS = 'platform-domain';
/** Links moved to the platform marker between two progress lines. */
const PLATFORM_BATCH = 1000;

/**
 * Gives every ApiKey written before secret documents existed its ApiKeySecret documents (from
 * secretHash and previousSecretHash). Idempotent: documents are inserted by `_id` and one that
 * is already there (written by the API or an earlier, interrupted run) is left alone, so a run
 * cut short is simply run again. Once complete it is recorded, and later starts cost one
 * primary-key read. Returns how many documents it created.
 */
export async function migrateKeySecrets(logger: Logger, options: { force?: boolean } = {}): Promise<number> {
  const done = mongoose.connection.collection<{ _id: string; at: Date }>(MIGRATIONS);
  if (!options.force && (await done.findOne({ _id: KEY_SECRETS }))) return 0;

  // Two scans, not one read per key: on FerretDB any filter but { _id } scans the collection.
  const existing = new Set((await ApiKeySecret.find({}, { _id: 1 }).lean<Pick<ApiKeySecretDoc, '_id'>[]>().exec()).map((s) => s._id));
  const keys = await ApiKey.find({}, { secretHash: 1, previousSecretHash: 1 })
    .lean<Pick<ApiKeyDoc, '_id' | 'secretHash' | 'previousSecretHash'>[]>()
    .exec();
  const missing: Omit<ApiKeySecretDoc, 'createdAt'>[] = [];
  for (const key of keys) {
    if (!existing.has(key.secretHash)) missing.push({ _id: key.secretHash, keyId: key._id, kind: 'current' });
    const previous = key.previousSecretHash;
    if (previous && !existing.has(previous)) missing.push({ _id: previous, keyId: key._id, kind: 'previous' });
  }

  // Another process (a server and the CLI starting together) may write some of them first.
  const created = await insertMissing(ApiKeySecret, missing);
  await done.updateOne({ _id: KEY_SECRETS }, { $set: { at: new Date() } }, { upsert: true });
  logger.info({ keys: keys.length, secretDocuments: created }, 'API keys migrated to secret documents');
  return created;
}

/**
 * Gives every Link written before the slug registry existed its Slug document ("<domain>/<slug>"),
 * which redirects and slug uniqueness now go through. Idempotent and resumable like
 * migrateKeySecrets: a document already there is left alone, the finished run is recorded.
 * Returns how many documents it created.
 */
export async function migrateLinkSlugs(logger: Logger, options: { force?: boolean } = {}): Promise<number> {
  const done = mongoose.connection.collection<{ _id: string; at: Date }>(MIGRATIONS);
  if (!options.force && (await done.findOne({ _id: LINK_SLUGS }))) return 0;

  const existing = new Set((await Slug.find({}, { _id: 1 }).lean<Pick<SlugDoc, '_id'>[]>().exec()).map((s) => s._id));
  const links = await Link.find({}, { domain: 1, slug: 1, workspaceId: 1 }).lean<Pick<LinkDoc, '_id' | 'domain' | 'slug' | 'workspaceId'>[]>().exec();
  const missing = links
    .filter((link) => !existing.has(slugId(link.domain, link.slug)))
    .map((link) => ({ _id: slugId(link.domain, link.slug), linkId: link._id, workspaceId: link.workspaceId }));
  const created = await insertMissing(Slug, missing);
  await done.updateOne({ _id: LINK_SLUGS }, { $set: { at: new Date() } }, { upsert: true });
  logger.info({ links: links.length, slugDocuments: created }, 'links migrated to slug documents');
  return created;
}

/**
 * Gives every user with memberships written before the roles documents existed their UserRoles
 * document (their roles by workspace), which every request now reads instead of scanning
 * memberships. Idempotent and resumable like migrateKeySecrets: a user's document already there
 * (written by the API or an earlier run) is left alone, the finished run is recorded.
 * Returns how many documents it created.
 */
export async function migrateUserRoles(logger: Logger, options: { force?: boolean } = {}): Promise<number> {
  const done = mongoose.connection.collection<{ _id: string; at: Date }>(MIGRATIONS);
  if (!options.force && (await done.findOne({ _id: USER_ROLES }))) return 0;

  const existing = new Set((await UserRoles.find({}, { _id: 1 }).lean<Pick<UserRolesDoc, '_id'>[]>().exec()).map((r) => String(r._id)));
  const memberships = await Membership.find({}, { userId: 1, workspaceId: 1, role: 1 })
    .lean<Pick<MembershipDoc, 'userId' | 'workspaceId' | 'role'>[]>()
    .exec();
  const byUser = new Map<string, UserRolesDoc>();
  for (const m of memberships) {
    const userId = String(m.userId);
    if (existing.has(userId)) continue;
    const doc = byUser.get(userId) ?? byUser.set(userId, { _id: m.userId, roles: {} }).get(userId)!;
    doc.roles[String(m.workspaceId)] = m.role;
  }
  const created = await insertMissing(UserRoles, [...byUser.values()]);
  await done.updateOne({ _id: USER_ROLES }, { $set: { at: new Date() } }, { upsert: true });
  logger.info({ memberships: memberships.length, roleDocuments: created }, 'memberships migrated to user roles documents');
  return created;
}

/** A counter of the collection click days replace: one per link, UTC day, dimension and value. */
interface ClickBucket {
  workspaceId: Types.ObjectId;
  linkId: Types.ObjectId;
  day: string;
  dimension: 'total' | 'bot' | 'referrer' | 'device' | 'browser';
  value: string;
  clicks: number;
}

type DayTotals = DayCounts;

function addBucket(totals: DayTotals, bucket: ClickBucket): void {
  const add = (field: Breakdown | 'links', key: string) => totals.counts[field].set(key, (totals.counts[field].get(key) ?? 0) + bucket.clicks);
  if (bucket.dimension === 'bot') totals.botClicks += bucket.clicks;
  else if (bucket.dimension === 'total') {
    totals.clicks += bucket.clicks;
    if (!totals.linkId) add('links', String(bucket.linkId));
  } else add(BREAKDOWN_OF[bucket.dimension], bucket.value);
}

/** Absolute values ($set, not $inc), so that writing a day twice leaves it right. */
function setDay(totals: DayTotals, maxKeys: number): AnyBulkWriteOperation<ClickDayDoc> {
  const fields = totals.linkId ? BREAKDOWNS : [...BREAKDOWNS, 'links' as const];
  const counts = Object.fromEntries(
    fields.map((f) => [f, Object.fromEntries([...capKeys(totals.counts[f], maxKeys)].map(([value, clicks]) => [encodeCounterKey(value), clicks]))]),
  );
  const ids = totals.linkId ? { workspaceId: totals.workspaceId, linkId: totals.linkId } : { workspaceId: totals.workspaceId };
  const $set = { ...ids, day: totals.day, clicks: totals.clicks, botClicks: totals.botClicks, ...counts };
  return { updateOne: { filter: { _id: totals._id }, update: { $set }, upsert: true } };
}

/**
 * Turns the click buckets of earlier versions (`clickbuckets`, one document per link, day,
 * dimension and value) into click days, one per link day and one per workspace day, then drops
 * the old collection: left behind it would keep the clicks of workspaces deleted later.
 * Idempotent and resumable: every day is written with the absolute sums of all its buckets, so a
 * run cut short and run again counts nothing twice; the buckets are dropped only once all days
 * are written. Runs before the server serves, so no flush adds to a day being converted.
 * Returns how many day documents it wrote.
 */
export async function migrateClickDays(logger: Logger, options: { force?: boolean } = {}): Promise<number> {
  const done = mongoose.connection.collection<{ _id: string; at: Date }>(MIGRATIONS);
  if (!options.force && (await done.findOne({ _id: CLICK_DAYS }))) return 0;

  const old = mongoose.connection.collection<ClickBucket>('clickbuckets');
  const newTotals = (_id: string, bucket: ClickBucket, linkId: Types.ObjectId | null): DayTotals => ({
    _id,
    workspaceId: bucket.workspaceId,
    linkId,
    day: bucket.day,
    clicks: 0,
    botClicks: 0,
    counts: { referrers: new Map(), devices: new Map(), browsers: new Map(), links: new Map() },
  });
  // Sorted, so each link day is complete, and written, when the next one starts; workspace days
  // (far fewer) are summed in memory.
  const workspaceDays = new Map<string, DayTotals>();
  let linkDay: DayTotals | null = null;
  let pending: AnyBulkWriteOperation<ClickDayDoc>[] = [];
  let buckets = 0;
  let written = 0;
  const write = async (ops: AnyBulkWriteOperation<ClickDayDoc>[]) => {
    await bulkWriteInChunks(ClickDay, ops);
    written += ops.length;
  };
  for await (const bucket of old.find({}).sort({ linkId: 1, day: 1 })) {
    buckets += 1;
    const id = linkDayId(bucket.linkId, bucket.day);
    if (linkDay?._id !== id) {
      if (linkDay) pending.push(setDay(linkDay, MAX_KEYS_PER_LINK_DAY));
      if (pending.length >= CONVERT_BATCH) {
        await write(pending);
        pending = [];
        logger.info({ buckets, dayDocuments: written }, 'converting click buckets to click days');
      }
      linkDay = newTotals(id, bucket, bucket.linkId);
    }
    addBucket(linkDay, bucket);
    const workspaceId = workspaceDayId(bucket.workspaceId, bucket.day);
    const workspaceDay = workspaceDays.get(workspaceId) ?? workspaceDays.set(workspaceId, newTotals(workspaceId, bucket, null)).get(workspaceId)!;
    addBucket(workspaceDay, bucket);
  }
  if (linkDay) pending.push(setDay(linkDay, MAX_KEYS_PER_LINK_DAY));
  await write([...pending, ...[...workspaceDays.values()].map((day) => setDay(day, MAX_KEYS_PER_WORKSPACE_DAY))]);

  // Dropped before the run is recorded: a crash in between reruns on no buckets, which is right.
  await old.drop().catch((error: { code?: number }) => {
    if (error.code !== 26) throw error; // 26: NamespaceNotFound (a new database, or another process dropped it)
  });
  await done.updateOne({ _id: CLICK_DAYS }, { $set: { at: new Date() } }, { upsert: true });
  logger.info({ buckets, dayDocuments: written }, 'click buckets migrated to click days');
  return written;
}

/** Everything stored data needs before this version serves it: run at start and by every CLI command. */
/**
 * Gives every workspace and project with links written before counters existed its counters
 * (src/models/counter.ts). Idempotent and resumable like migrateKeySecrets: a counter already
 * there is left alone, the finished run is recorded. `taapit-api recount` recomputes them all.
 * Returns how many counters it created.
 */
export async function migrateLinkCounters(logger: Logger, options: { force?: boolean } = {}): Promise<number> {
  const done = mongoose.connection.collection<{ _id: string; at: Date }>(MIGRATIONS);
  if (!options.force && (await done.findOne({ _id: LINK_COUNTERS }))) return 0;
  const created = await recountLinkCounters({ missingOnly: true });
  await done.updateOne({ _id: LINK_COUNTERS }, { $set: { at: new Date() } }, { upsert: true });
  logger.info({ counters: created }, 'link counters computed');
  return created;
}

/** `shortDomain`: the platform's short domain now (SHORT_DOMAIN), which decides clashes of migratePlatformDomain. */
export async function runMigrations(logger: Logger, options: { shortDomain?: string } = {}): Promise<void> {
  await migrateKeySecrets(logger);
  await migrateLinkSlugs(logger);
  await migrateUserRoles(logger);
  await migrateClickDays(logger);
  await migrateLinkCounters(logger);
  await migrateDomainHosts(logger);
  await migratePlatformDomain(logger, { shortDomain: options.shortDomain });
}

/**
 * Gives every Domain written before the hostname registry existed its DomainHost document, which
 * redirects and link lists now find domains by. Idempotent and resumable like migrateKeySecrets.
 * Returns how many documents it created.
 */
export async function migrateDomainHosts(logger: Logger, options: { force?: boolean } = {}): Promise<number> {
  const done = mongoose.connection.collection<{ _id: string; at: Date }>(MIGRATIONS);
  if (!options.force && (await done.findOne({ _id: DOMAIN_HOSTS }))) return 0;

  const existing = new Set((await DomainHost.find({}, { _id: 1 }).lean<Pick<DomainHostDoc, '_id'>[]>().exec()).map((h) => h._id));
  const domains = await Domain.find({}, { hostname: 1 }).lean<Pick<DomainDoc, '_id' | 'hostname'>[]>().exec();
  const missing = domains.filter((d) => !existing.has(d.hostname)).map((d) => ({ _id: d.hostname, domainId: d._id }));
  const created = await insertMissing(DomainHost, missing);
  await done.updateOne({ _id: DOMAIN_HOSTS }, { $set: { at: new Date() } }, { upsert: true });
  logger.info({ domains: domains.length, hostDocuments: created }, 'domains migrated to hostname documents');
  return created;
}

/**
 * Moves links written with their platform host stored literally ("localhost:4000", an earlier
 * SHORT_DOMAIN) to PLATFORM_DOMAIN, slug documents included, so they follow SHORT_DOMAIN from now
 * on. A link was on the platform's domain when its domain is no registered custom hostname (in
 * `domains` or `domainhosts`) and no deleted domain's "#deleted-" name. Two such links with one
 * slug (made under two ports or names) cannot both keep it: the one on the current short domain
 * (the one that redirected until now), else the oldest, moves; the other stays as it was (it
 * answered 404 already) and is logged. Reads each collection once and writes by `_id`; each step
 * is safe to repeat and reads what the earlier ones left, so a run cut short is run again.
 * Returns how many links it moved.
 */
export async function migratePlatformDomain(logger: Logger, options: { force?: boolean; shortDomain?: string } = {}): Promise<number> {
  const done = mongoose.connection.collection<{ _id: string; at: Date }>(MIGRATIONS);
  if (!options.force && (await done.findOne({ _id: PLATFORM_LINKS }))) return 0;

  const custom = new Set([
    ...(await DomainHost.find({}, { _id: 1 }).lean<Pick<DomainHostDoc, '_id'>[]>().exec()).map((h) => h._id),
    ...(await Domain.find({}, { hostname: 1 }).lean<Pick<DomainDoc, 'hostname'>[]>().exec()).map((d) => d.hostname),
  ]);
  const wasPlatform = (domain: string) => domain !== PLATFORM_DOMAIN && !domain.includes('#') && !custom.has(domain);
  type Row = Pick<LinkDoc, '_id' | 'domain' | 'slug' | 'workspaceId'>;
  const links = await Link.find({}, { domain: 1, slug: 1, workspaceId: 1 }).lean<Row[]>().exec();
  const slugs = await Slug.find({}, { linkId: 1 }).lean<Pick<SlugDoc, '_id' | 'linkId'>[]>().exec();
  const byId = new Map(links.map((link) => [String(link._id), link]));
  const slugDocs = new Map(slugs.map((s) => [s._id, String(s.linkId)]));

  // Who holds each platform slug: a link already there, then (an interrupted run) one its slug document points at.
  const holder = new Map<string, string>();
  for (const link of links) if (link.domain === PLATFORM_DOMAIN) holder.set(link.slug, String(link._id));
  for (const [id, linkId] of slugDocs) {
    const slug = id.startsWith(`${PLATFORM_DOMAIN}/`) ? id.slice(PLATFORM_DOMAIN.length + 1) : null;
    const link = byId.get(linkId);
    if (slug !== null && link?.slug === slug && wasPlatform(link.domain) && !holder.has(slug)) holder.set(slug, linkId);
  }
  const current = (link: Row) => (link.domain === options.shortDomain ? 0 : 1);
  const candidates = links.filter((link) => wasPlatform(link.domain)).sort((a, b) => current(a) - current(b) || String(a._id).localeCompare(String(b._id)));
  const moving: Row[] = [];
  const clashes: Row[] = [];
  for (const link of candidates) {
    const id = String(link._id);
    if ((holder.get(link.slug) ?? id) !== id) clashes.push(link);
    else {
      holder.set(link.slug, id);
      moving.push(link);
    }
  }

  // Slug documents on former platform hosts to drop at the end: all but those of links left there.
  const moved = new Set(moving.map((link) => String(link._id)));
  const leftBehind = new Set(
    [...slugDocs]
      .filter(([id, linkId]) => {
        const at = id.lastIndexOf('/');
        if (!wasPlatform(id.slice(0, at))) return false;
        const link = byId.get(linkId);
        return !(link && !moved.has(linkId) && link.domain === id.slice(0, at) && link.slug === id.slice(at + 1));
      })
      .map(([id]) => id),
  );
  const claim = (link: Row) => ({ _id: slugId(PLATFORM_DOMAIN, link.slug), linkId: link._id, workspaceId: link.workspaceId });
  let slugDocuments = 0;
  let movedSoFar = 0;
  let removedSlugDocuments = 0;
  const remove = async (ids: string[]) => {
    await bulkWriteInChunks(Slug, ids.map((_id) => ({ deleteOne: { filter: { _id } } })));
    for (const id of ids) leftBehind.delete(id);
    removedSlugDocuments += ids.length;
  };
  // In batches, each in this order: a crash leaves at worst claims whose links are not moved yet
  // (the rerun finds them held by those links) or old slug documents (dropped by the rerun).
  for (const batch of chunked(moving, PLATFORM_BATCH)) {
    // 1. Their slug documents on the marker: new ones inserted, stale ones (pointing elsewhere) repointed.
    slugDocuments += await insertMissing(
      Slug,
      batch.filter((link) => !slugDocs.has(claim(link)._id)).map((link) => ({ ...claim(link), createdAt: new Date() })),
    );
    const stale = batch.filter((link) => (slugDocs.get(claim(link)._id) ?? String(link._id)) !== String(link._id));
    await bulkWriteInChunks(Slug, stale.map((link) => ({ updateOne: { filter: { _id: claim(link)._id }, update: { $set: claim(link) } } })));
    slugDocuments += stale.length;
    // 2. The links (not a change by anyone: updatedAt stays).
    await bulkWriteInChunks(
      Link,
      batch.map((link) => ({ updateOne: { filter: { _id: link._id }, update: { $set: { domain: PLATFORM_DOMAIN } }, timestamps: false } })),
    );
    // 3. Their old slug documents.
    await remove(batch.map((link) => slugId(link.domain, link.slug)).filter((id) => leftBehind.has(id)));
    movedSoFar += batch.length;
    logger.info({ moved: movedSoFar, of: moving.length }, 'moving links on the platform domain');
  }
  // Old slug documents of no link (left by an interrupted run, or orphaned).
  await remove([...leftBehind]);

  await done.updateOne({ _id: PLATFORM_LINKS }, { $set: { at: new Date() } }, { upsert: true });
  logger.info(
    { links: links.length, moved: moving.length, clashes: clashes.length, slugDocuments, removedSlugDocuments },
    'links on the platform domain follow SHORT_DOMAIN',
  );
  if (clashes.length > 0) {
    logger.warn(
      { clashes: clashes.length, links: clashes.slice(0, 20).map((link) => ({ id: String(link._id), domain: link.domain, slug: link.slug })) },
      'links left on a former platform host: their slug is held by another link there; give them another slug to serve them again',
    );
  }
  return moving.length;
}
