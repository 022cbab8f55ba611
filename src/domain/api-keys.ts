import { Types } from 'mongoose';
import { allowedIpError } from '../auth/ip.ts';
import { generateApiKey, hashApiKey, keyHint } from '../auth/keys.ts';
import { mintViolations, validateScopes, type KeyGrant, type Permission, type Scope } from '../auth/permissions.ts';
import { ValidationError } from '../errors.ts';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { Membership } from '../models/workspace.ts';

export interface KeySpecInput {
  name: string;
  permission: Permission;
  scopes?: readonly Scope[] | null;
  workspaceIds?: readonly Types.ObjectId[] | null;
  expiresAt?: Date | null;
  allowedIps?: readonly string[] | null;
  rateLimit?: number | null;
}

export interface KeySpec {
  name: string;
  permission: Permission;
  scopes: Scope[];
  workspaces: Types.ObjectId[];
  expiresAt: Date | null;
  allowedIps: string[];
  rateLimit: number | null;
}

export const MAX_RATE_LIMIT = 1_000_000;
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

/** Validates a key's shape and that `userId` belongs to every workspace it is restricted to. */
export async function validateKeySpec(userId: Types.ObjectId, input: KeySpecInput, now = new Date()): Promise<KeySpec> {
  const scopes = validateScopes(input.permission, input.scopes ?? []);
  if (typeof scopes === 'string') throw new ValidationError('input.scopes', scopes);
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new ValidationError('input.expiresAt', 'expiresAt must be in the future');
  }
  const workspaces = [...new Map((input.workspaceIds ?? []).map((id) => [String(id), id])).values()];
  if (workspaces.length > 0) {
    const found = await Membership.countDocuments({ userId, workspaceId: { $in: workspaces } });
    if (found !== workspaces.length) {
      throw new ValidationError('input.workspaceIds', 'every workspace must be one you are a member of; check the ids');
    }
  }
  return {
    name: validateName(input.name, 'input.name'),
    permission: input.permission,
    scopes,
    workspaces,
    expiresAt,
    allowedIps: validateAllowedIps(input.allowedIps ?? [], 'input.allowedIps'),
    rateLimit: validateRateLimit(input.rateLimit, 'input.rateLimit'),
  };
}

export function grantOf(spec: Pick<KeySpec, 'permission' | 'scopes' | 'workspaces' | 'expiresAt'>): KeyGrant {
  return {
    permission: spec.permission,
    scopes: spec.scopes,
    workspaces: spec.workspaces.map(String),
    expiresAt: spec.expiresAt,
  };
}

/** Refuses a key that would hold more than its creator (null creator: the CLI, trusted). */
export function assertMintable(creator: KeyGrant | null, spec: KeySpec): void {
  if (!creator) return;
  const [violation] = mintViolations(creator, grantOf(spec));
  if (violation) throw new ValidationError(`input.${violation.field}`, `Escalation refused: ${violation.message}.`);
}

export interface CreatedKey {
  doc: ApiKeyDoc;
  /** The plaintext key: returned to the caller once, never stored or logged. */
  secret: string;
}

export async function insertApiKey(options: {
  userId: Types.ObjectId;
  spec: KeySpec;
  pepper: string;
  createdVia: ApiKeyDoc['createdVia'];
  createdByKeyId?: Types.ObjectId | null;
}): Promise<CreatedKey> {
  const secret = generateApiKey();
  const created = await ApiKey.create({
    userId: options.userId,
    ...options.spec,
    secretHash: hashApiKey(secret, options.pepper),
    hint: keyHint(secret),
    createdVia: options.createdVia,
    createdByKeyId: options.createdByKeyId ?? null,
  });
  return { doc: created.toObject(), secret };
}

/**
 * A new secret for a key; the old one keeps working for graceSeconds (0: refused at once).
 * The old hash is kept either way, so a rotated-out secret is told "rotated", not "unknown".
 */
export async function rotateSecret(
  doc: ApiKeyDoc,
  graceSeconds: number,
  pepper: string,
  now = new Date(),
): Promise<CreatedKey | null> {
  const secret = generateApiKey();
  const graceEnd = new Date(now.getTime() + graceSeconds * 1000);
  const updated = await ApiKey.findOneAndUpdate(
    { _id: doc._id, secretHash: doc.secretHash },
    {
      $set: {
        secretHash: hashApiKey(secret, pepper),
        hint: keyHint(secret),
        previousSecretHash: doc.secretHash,
        previousSecretExpiresAt: graceEnd,
      },
    },
    { new: true },
  )
    .lean<ApiKeyDoc>()
    .exec();
  return updated ? { doc: updated, secret } : null;
}
