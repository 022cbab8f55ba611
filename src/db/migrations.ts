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
import { UserRoles, type UserRolesDoc } from '../models/user-roles.ts';
import { Membership, type MembershipDoc } from '../models/workspace.ts';
import { bulkWriteInChunks } from './bulk.ts';
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

export async function runMigrations(logger: Logger): Promise<void> {
  await migrateKeySecrets(logger);
  await migrateLinkSlugs(logger);
  await migrateUserRoles(logger);
  await migrateClickDays(logger);
  await migrateLinkCounters(logger);
  await migrateDomainHosts(logger);
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
