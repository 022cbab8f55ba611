import { Types } from 'mongoose';
import { allowedIpError } from '../rules/ip.ts';
import { MAX_HOST_PATTERNS, normaliseHostPattern } from '../rules/host-patterns.ts';
import { generateApiKey, hashApiKey, keyHint, MAX_IDLE_TIMEOUT_DAYS, type KeyStatus } from '../rules/keys.ts';
import { PLATFORM_DOMAIN } from '../rules/links.ts';
import { isPlatformHost } from '../rules/validation.ts';
import {
  mintViolations,
  validateScopes,
  type KeyBounds,
  type MintSettings,
  type MintViolation,
  type Permission,
  type Scope,
} from '../rules/permissions.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { ApiKeySecret } from '../models/api-key-secret.ts';
import { Membership } from '../models/workspace.ts';
import type { Actor } from './actor.ts';
import { announceChange } from './changes.ts';
import { audit, changesOf, type AuditInput } from './audit.ts';
import { listing, newestFirst, type Listing } from './listing.ts';

export type { ApiKeyDoc } from '../models/api-key.ts';

export interface KeySpecInput {
  name: string;
  permission: Permission;
  scopes?: readonly Scope[] | null;
  workspaceIds?: readonly Types.ObjectId[] | null;
  expiresAt?: Date | null;
  allowedIps?: readonly string[] | null;
  rateLimit?: number | null;
  pointsPerMinute?: number | null;
  trustedDocumentsOnly?: boolean | null;
  allowedDestinations?: readonly string[] | null;
  /** Hostnames as people write them: the platform's short domain by its SHORT_DOMAIN name. */
  allowedDomains?: readonly string[] | null;
  idleTimeoutDays?: number | null;
}

export interface KeySpec {
  name: string;
  permission: Permission;
  scopes: Scope[];
  workspaces: Types.ObjectId[];
  expiresAt: Date | null;
  allowedIps: string[];
  rateLimit: number | null;
  /** Optional: a key written without it has the server default. */
  pointsPerMinute?: number | null;
  /** Optional like the fields below: a key written without it runs any document. */
  trustedDocumentsOnly?: boolean;
  // Optional so that keys written without them (tests, the demo key) mean "any" and "never".
  allowedDestinations?: string[];
  /** As stored: PLATFORM_DOMAIN for the platform's short domain. */
  allowedDomains?: string[];
  idleTimeoutDays?: number | null;
}

export const MAX_RATE_LIMIT = 1_000_000;
export const MAX_POINTS_PER_MINUTE = 100_000_000;
export const MAX_GRACE_SECONDS = 7 * 24 * 3600;

export function validateName(name: string, field: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 100) throw new ValidationError(field, 'name must be 1 to 100 characters');
  return trimmed;
}

export function validateAllowedIps(entries: readonly string[], field: string): string[] {
  if (entries.length > 100) throw new ValidationError(field, 'at most 100 allowedIps entries');
  return entries.map((entry, index) => {
    const error = allowedIpError(entry);
    if (error) throw new ValidationError(`${field}.${index}`, error);
    return entry.trim();
  });
}

export function validateRateLimit(rateLimit: number | null | undefined, field: string): number | null {
  if (rateLimit === null || rateLimit === undefined) return null;
  if (!Number.isInteger(rateLimit) || rateLimit < 1 || rateLimit > MAX_RATE_LIMIT) {
    throw new ValidationError(field, `rateLimit must be a whole number of requests per minute from 1 to ${MAX_RATE_LIMIT}`);
  }
  return rateLimit;
}

/** Host patterns (see src/rules/host-patterns.ts), normalised; `platform` maps an entry to the platform marker, or null. */
export function validateHostPatterns(entries: readonly string[], field: string, platform: (entry: string) => string | null = () => null): string[] {
  if (entries.length > MAX_HOST_PATTERNS) throw new ValidationError(field, `at most ${MAX_HOST_PATTERNS} entries`);
  const patterns = entries.map((entry, index) => {
    const marker = platform(entry);
    if (marker) return marker;
    const result = normaliseHostPattern(entry);
    if ('error' in result) throw new ValidationError(`${field}.${index}`, result.error);
    return result.pattern;
  });
  return [...new Set(patterns)];
}

/** The platform's short domain, named by SHORT_DOMAIN (or any loopback spelling of a local one), is stored as PLATFORM_DOMAIN. */
const platformEntry = (shortDomain: string) => (entry: string) => {
  const host = entry.trim().toLowerCase();
  return host === PLATFORM_DOMAIN || isPlatformHost(host, shortDomain) ? PLATFORM_DOMAIN : null;
};

export function validateIdleTimeout(days: number | null | undefined, field: string): number | null {
  if (days === null || days === undefined) return null;
  if (!Number.isInteger(days) || days < 1 || days > MAX_IDLE_TIMEOUT_DAYS) {
    throw new ValidationError(field, `idleTimeoutDays must be a whole number of days from 1 to ${MAX_IDLE_TIMEOUT_DAYS}, or null for none`);
  }
  return days;
}

export function validatePointsPerMinute(points: number | null | undefined, field: string): number | null {
  if (points === null || points === undefined) return null;
  if (!Number.isInteger(points) || points < 1 || points > MAX_POINTS_PER_MINUTE) {
    throw new ValidationError(field, `pointsPerMinute must be a whole number of points from 1 to ${MAX_POINTS_PER_MINUTE}, or null for the server default`);
  }
  return points;
}

const WORKSPACES_MESSAGE = 'every workspace must be one you are a member of and this key can reach; check the ids';

/**
 * Validates a key's shape and its workspaces. `reachable` loads what the calling key can see (the
 * user's memberships within the key's own restriction): a workspace outside it gets the same
 * answer as one that does not exist. Without it (the CLI) any workspace of the user will do.
 */
export async function validateKeySpec(
  userId: Types.ObjectId,
  input: KeySpecInput,
  options: { reachable?: () => Promise<ReadonlySet<string>>; now?: Date; shortDomain: string },
  at = 'input',
): Promise<KeySpec> {
  const now = options.now ?? new Date();
  const scopes = validateScopes(input.permission, input.scopes ?? []);
  if (typeof scopes === 'string') throw new ValidationError(`${at}.scopes`, scopes);
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new ValidationError(`${at}.expiresAt`, 'expiresAt must be in the future');
  }
  const workspaces = [...new Map((input.workspaceIds ?? []).map((id) => [String(id), id])).values()];
  if (workspaces.length > 0) {
    const reachable = await options.reachable?.();
    const found = reachable
      ? workspaces.filter((id) => reachable.has(String(id))).length
      : await Membership.countDocuments({ userId, workspaceId: { $in: workspaces } });
    if (found !== workspaces.length) throw new ValidationError(`${at}.workspaceIds`, WORKSPACES_MESSAGE);
  }
  return {
    name: validateName(input.name, `${at}.name`),
    permission: input.permission,
    scopes,
    workspaces,
    expiresAt,
    allowedIps: validateAllowedIps(input.allowedIps ?? [], `${at}.allowedIps`),
    rateLimit: validateRateLimit(input.rateLimit, `${at}.rateLimit`),
    pointsPerMinute: validatePointsPerMinute(input.pointsPerMinute, `${at}.pointsPerMinute`),
    allowedDestinations: validateHostPatterns(input.allowedDestinations ?? [], `${at}.allowedDestinations`),
    allowedDomains: validateHostPatterns(input.allowedDomains ?? [], `${at}.allowedDomains`, platformEntry(options.shortDomain)),
    idleTimeoutDays: validateIdleTimeout(input.idleTimeoutDays, `${at}.idleTimeoutDays`),
    trustedDocumentsOnly: input.trustedDocumentsOnly ?? false,
  };
}

/** The restrictions of a stored key or a validated spec, as the permission maths sees them. */
export function boundsOf(
  key: Pick<KeySpec, 'permission' | 'scopes' | 'workspaces' | 'allowedIps'> & Partial<Pick<KeySpec, 'expiresAt' | 'rateLimit' | 'trustedDocumentsOnly'>> &
    Partial<Pick<KeySpec, 'allowedDestinations' | 'allowedDomains' | 'idleTimeoutDays' | 'pointsPerMinute'>>,
): KeyBounds {
  return {
    permission: key.permission,
    scopes: key.scopes,
    workspaces: key.workspaces.map(String),
    expiresAt: key.expiresAt ?? null,
    allowedIps: key.allowedIps,
    rateLimit: key.rateLimit ?? null,
    pointsPerMinute: key.pointsPerMinute ?? null,
    allowedDestinations: key.allowedDestinations ?? [],
    allowedDomains: key.allowedDomains ?? [],
    idleTimeoutDays: key.idleTimeoutDays ?? null,
    trustedDocumentsOnly: key.trustedDocumentsOnly ?? false,
  };
}

/** The input field each restriction is set through, for error messages. */
const INPUT_FIELD: Record<MintViolation['field'], string> = {
  permission: 'permission',
  scopes: 'scopes',
  workspaces: 'workspaceIds',
  expiresAt: 'expiresAt',
  allowedIps: 'allowedIps',
  rateLimit: 'rateLimit',
  pointsPerMinute: 'pointsPerMinute',
  allowedDestinations: 'allowedDestinations',
  allowedDomains: 'allowedDomains',
  idleTimeoutDays: 'idleTimeoutDays',
  trustedDocumentsOnly: 'trustedDocumentsOnly',
};

/**
 * Refuses a key that would be less restricted than the key creating, changing or rotating it
 * on any axis (null creator: the CLI, trusted).
 */
export function assertMintable(creator: KeyBounds | null, key: KeyBounds, settings: MintSettings, at = 'input'): void {
  if (!creator) return;
  const [violation] = mintViolations(creator, key, settings);
  if (violation) throw new ValidationError(`${at}.${INPUT_FIELD[violation.field]}`, `Escalation refused: ${violation.message}.`);
}

export interface CreatedKey {
  doc: ApiKeyDoc;
  /** The plaintext key: returned to the caller once, never stored or logged. */
  secret: string;
}

/**
 * Writes a new key. The secret document goes first, under an id chosen here: if the process dies
 * before the key is written, that document points at no key and authenticates nothing (and the
 * secret was never shown). The other order could leave a key that no secret finds.
 */
export async function insertApiKey(options: {
  userId: Types.ObjectId;
  spec: KeySpec;
  pepper: string;
  createdVia: ApiKeyDoc['createdVia'];
  createdByKeyId?: Types.ObjectId | null;
}): Promise<CreatedKey> {
  const secret = generateApiKey();
  const secretHash = hashApiKey(secret, options.pepper);
  const _id = new Types.ObjectId();
  await ApiKeySecret.create({ _id: secretHash, keyId: _id, kind: 'current' });
  try {
    const created = await ApiKey.create({
      _id,
      userId: options.userId,
      ...options.spec,
      secretHash,
      hint: keyHint(secret),
      createdVia: options.createdVia,
      createdByKeyId: options.createdByKeyId ?? null,
    });
    return { doc: created.toObject(), secret };
  } catch (error) {
    await ApiKeySecret.deleteOne({ _id: secretHash }).catch(() => {});
    throw error;
  }
}

/**
 * A new secret for a key; the old one keeps working for graceSeconds (0: refused at once).
 * The old hash is kept either way, so a rotated-out secret is told "rotated", not "unknown";
 * the secret before it is forgotten. The new secret document is written before the key points
 * at it, and removed again when the key changed under us (a concurrent rotation or delete).
 */
export async function rotateSecret(
  doc: ApiKeyDoc,
  graceSeconds: number,
  pepper: string,
  now = new Date(),
): Promise<CreatedKey | null> {
  const secret = generateApiKey();
  const secretHash = hashApiKey(secret, pepper);
  const graceEnd = new Date(now.getTime() + graceSeconds * 1000);
  await ApiKeySecret.create({ _id: secretHash, keyId: doc._id, kind: 'current' });
  const updated = await ApiKey.findOneAndUpdate(
    { _id: doc._id, secretHash: doc.secretHash },
    {
      $set: {
        secretHash,
        hint: keyHint(secret),
        previousSecretHash: doc.secretHash,
        previousSecretExpiresAt: graceEnd,
      },
    },
    { returnDocument: 'after' },
  )
    .lean<ApiKeyDoc>()
    .exec();
  if (!updated) {
    await ApiKeySecret.deleteOne({ _id: secretHash });
    return null;
  }
  // Upserted, so a key whose secret document is missing gets one for its previous secret.
  await ApiKeySecret.updateOne(
    { _id: doc.secretHash },
    { $set: { kind: 'previous' }, $setOnInsert: { keyId: doc._id, createdAt: now } },
    { upsert: true },
  );
  if (doc.previousSecretHash && doc.previousSecretHash !== doc.secretHash) {
    await ApiKeySecret.deleteOne({ _id: doc.previousSecretHash });
  }
  return { doc: updated, secret };
}

// Use cases. An actor with a key acts on its own user's keys only (another user's key looks like
// one that does not exist) and never makes a key wider than itself. The trusted CLI acts without
// a key: it names the user, may reach any key by id and is not bounded by a creating key.

/** The user whose keys are acted on: the calling key's own; the keyless CLI names one. */
function ownerOf(actor: Actor, userId: Types.ObjectId | null | undefined): Types.ObjectId {
  if (actor.key) {
    if (userId && String(userId) !== actor.key.userId) throw new Error("a key acts on its own user's keys only");
    return new Types.ObjectId(actor.key.userId);
  }
  if (!userId) throw new Error('a call without a key must name the user whose keys it acts on');
  return userId;
}

/** A key's event: it belongs to no workspace, and the key's owner may read it. */
export function keyEvent(action: string, doc: Pick<ApiKeyDoc, '_id' | 'userId'>, changes: AuditInput['changes'] = null): AuditInput {
  return { action, target: { type: 'ApiKey', id: doc._id }, workspaceId: null, subjectUserId: doc.userId, changes };
}

/** Drops a changed key from this instance's cache at once and from every other instance's within a second. */
async function forgetKey(actor: Actor, id: Types.ObjectId): Promise<void> {
  await announceChange(actor, 'key', id);
}

/** A key the actor may reach, else NotFoundError. */
export async function requireApiKey(actor: Actor, id: Types.ObjectId): Promise<ApiKeyDoc> {
  const doc = actor.key ? await actor.loaders.apiKey.load(String(id)) : await ApiKey.findById(id).lean<ApiKeyDoc>().exec();
  if (!doc) throw new NotFoundError('API key');
  return doc;
}

/** The bounds a change must stay within: the acting key's; none for the trusted CLI. */
function actorBounds(actor: Actor): KeyBounds | null {
  return actor.key ? boundsOf(actor.key.doc) : null;
}

const mintSettings = (actor: Actor): MintSettings => ({
  defaultRateLimit: actor.services.config.rateLimitPerMinute,
  defaultPointsPerMinute: actor.services.config.rateLimitPointsPerMinute,
});

export interface ApiKeyFilter {
  /** Only for the keyless CLI: whose keys to list. */
  userId?: Types.ObjectId | null;
  status?: KeyStatus | null;
}

/** The user's keys, newest first. */
export function listApiKeys(actor: Actor, filter: ApiKeyFilter = {}): Listing<ApiKeyDoc> {
  const userId = ownerOf(actor, filter.userId);
  return listing(ApiKey, { userId, ...(filter.status ? { status: filter.status } : {}) }, newestFirst('apiKey'));
}

export interface CreateApiKeyInput extends KeySpecInput {
  /** Only for the keyless CLI: whose key to create. */
  userId?: Types.ObjectId | null;
}

/** A new key and its secret (returned this once). */
export async function createApiKey(actor: Actor, input: CreateApiKeyInput, at = 'input'): Promise<CreatedKey> {
  const key = actor.key;
  const userId = ownerOf(actor, input.userId);
  // A key names only workspaces it can reach; the CLI any workspace of the user.
  const reachable = key ? actor.loaders.visibleWorkspaces : undefined;
  const spec = await validateKeySpec(userId, input, { reachable, shortDomain: actor.services.config.shortDomain }, at);
  assertMintable(actorBounds(actor), boundsOf(spec), mintSettings(actor), at);
  const created = await insertApiKey({
    userId,
    spec,
    pepper: actor.services.pepper,
    createdVia: key ? 'API' : 'CLI',
    createdByKeyId: key ? new Types.ObjectId(key.id) : null,
  });
  // The CLI reports a created key on its own output.
  if (key) actor.services.logger.info({ createdKeyId: String(created.doc._id) }, 'api key created');
  await audit(actor, keyEvent('apiKey.created', created.doc, changesOf(null, created.doc, Object.keys(spec))));
  return created;
}

/** Changes to a key: omitted (undefined) fields stay; for expiresAt and rateLimit null clears. */
export interface UpdateApiKeyInput {
  id: Types.ObjectId;
  name?: string | null;
  permission?: Permission | null;
  scopes?: readonly Scope[] | null;
  workspaceIds?: readonly Types.ObjectId[] | null;
  expiresAt?: Date | null;
  allowedIps?: readonly string[] | null;
  rateLimit?: number | null;
  /** null returns to the server default. */
  pointsPerMinute?: number | null;
  trustedDocumentsOnly?: boolean | null;
  allowedDestinations?: readonly string[] | null;
  allowedDomains?: readonly string[] | null;
  /** null clears it. */
  idleTimeoutDays?: number | null;
}

export async function updateApiKey(actor: Actor, input: UpdateApiKeyInput, at = 'input'): Promise<ApiKeyDoc> {
  const doc = await requireApiKey(actor, input.id);
  const merged: KeySpecInput = {
    name: input.name ?? doc.name,
    permission: input.permission ?? doc.permission,
    // Leaving LIMITED drops the scopes; staying LIMITED keeps them unless new ones are given.
    scopes: input.scopes ?? (input.permission && input.permission !== 'LIMITED' ? [] : doc.scopes),
    workspaceIds: input.workspaceIds ?? doc.workspaces,
    expiresAt: input.expiresAt === undefined ? doc.expiresAt : input.expiresAt,
    allowedIps: input.allowedIps ?? doc.allowedIps,
    rateLimit: input.rateLimit === undefined ? doc.rateLimit : input.rateLimit,
    pointsPerMinute: input.pointsPerMinute === undefined ? doc.pointsPerMinute : input.pointsPerMinute,
    allowedDestinations: input.allowedDestinations ?? doc.allowedDestinations ?? [],
    allowedDomains: input.allowedDomains ?? doc.allowedDomains ?? [],
    idleTimeoutDays: input.idleTimeoutDays === undefined ? doc.idleTimeoutDays : input.idleTimeoutDays,
    trustedDocumentsOnly: input.trustedDocumentsOnly ?? doc.trustedDocumentsOnly ?? false,
  };
  const reachable = actor.key ? actor.loaders.visibleWorkspaces : undefined;
  const spec = await validateKeySpec(doc.userId, merged, { reachable, shortDomain: actor.services.config.shortDomain }, at);
  // Checked on the result, so a key cannot widen itself either.
  assertMintable(actorBounds(actor), boundsOf(spec), mintSettings(actor), at);
  const updated = await ApiKey.findOneAndUpdate({ _id: doc._id }, { $set: spec }, { returnDocument: 'after' }).lean<ApiKeyDoc>().exec();
  if (!updated) throw new NotFoundError('API key');
  await forgetKey(actor, doc._id);
  await audit(actor, keyEvent('apiKey.updated', doc, changesOf(doc, spec)));
  return updated;
}

export interface RotateApiKeyInput {
  id: Types.ObjectId;
  /** How long the old secret keeps working; default 0 (refused at once). */
  gracePeriodSeconds?: number | null;
}

export async function rotateApiKey(actor: Actor, input: RotateApiKeyInput, at = 'input'): Promise<CreatedKey> {
  const grace = input.gracePeriodSeconds ?? 0;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw new ValidationError(`${at}.gracePeriodSeconds`, `gracePeriodSeconds must be from 0 to ${MAX_GRACE_SECONDS} (7 days)`);
  }
  const doc = await requireApiKey(actor, input.id);
  if (doc.status !== 'ACTIVE') throw new ValidationError(`${at}.id`, 'a deactivated key cannot be rotated; create a new key');
  // Rotation hands over a working secret: only for keys this key could have created itself.
  assertMintable(actorBounds(actor), boundsOf(doc), mintSettings(actor), at);
  const rotated = await rotateSecret(doc, grace, actor.services.pepper);
  if (!rotated) throw new NotFoundError('API key');
  await forgetKey(actor, doc._id);
  await audit(actor, keyEvent('apiKey.rotated', doc, { gracePeriodSeconds: { after: grace } }));
  return rotated;
}

/** Deactivates a key for good (idempotent: an already deactivated key keeps its date). */
export async function deactivateApiKey(actor: Actor, id: Types.ObjectId): Promise<ApiKeyDoc> {
  const doc = await requireApiKey(actor, id);
  const updated =
    doc.status === 'DEACTIVATED'
      ? doc
      : await ApiKey.findOneAndUpdate({ _id: doc._id }, { $set: { status: 'DEACTIVATED', deactivatedAt: new Date(), deactivationReason: 'MANUAL' } }, { returnDocument: 'after' })
          .lean<ApiKeyDoc>()
          .exec();
  await forgetKey(actor, doc._id);
  if (!updated) throw new NotFoundError('API key');
  if (updated !== doc) await audit(actor, keyEvent('apiKey.deactivated', doc, changesOf(doc, updated, ['status', 'deactivationReason'])));
  return updated;
}

/** Deletes a key for good; returns it as it was. */
export async function deleteApiKey(actor: Actor, id: Types.ObjectId): Promise<ApiKeyDoc> {
  const doc = await requireApiKey(actor, id);
  // Secrets first: a crash in between leaves a listed key that no secret reaches, and deleting it
  // again finishes the job; a secret document left behind would point at nothing anyway.
  for (const hash of [doc.secretHash, doc.previousSecretHash]) if (hash) await ApiKeySecret.deleteOne({ _id: hash });
  await ApiKey.deleteOne({ _id: doc._id });
  await forgetKey(actor, doc._id);
  await audit(actor, keyEvent('apiKey.deleted', doc, changesOf(doc, null, ['name'])));
  return doc;
}
