import mongoose from 'mongoose';
import type { Logger } from 'pino';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { ApiKeySecret, type ApiKeySecretDoc } from '../models/api-key-secret.ts';
import { Link, type LinkDoc } from '../models/link.ts';
import { Slug, slugId, type SlugDoc } from '../models/slug.ts';
import { UserRoles, type UserRolesDoc } from '../models/user-roles.ts';
import { Membership, type MembershipDoc } from '../models/workspace.ts';
import { insertMissing } from './unique.ts';

/** Where finished migrations are recorded, one document per migration (`_id` = its name). */
const MIGRATIONS = 'migrations';
const KEY_SECRETS = 'api-key-secrets';
const LINK_SLUGS = 'link-slugs';
const USER_ROLES = 'user-roles';

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

/** Everything stored data needs before this version serves it: run at start and by every CLI command. */
export async function runMigrations(logger: Logger): Promise<void> {
  await migrateKeySecrets(logger);
  await migrateLinkSlugs(logger);
  await migrateUserRoles(logger);
}
