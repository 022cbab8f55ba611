import { Types } from 'mongoose';
import { allowedIpError } from '../rules/ip.ts';
import { generateApiKey, hashApiKey, keyHint } from '../rules/keys.ts';
import {
  mintViolations,
  validateScopes,
  type KeyBounds,
  type MintSettings,
  type MintViolation,
  type Permission,
  type Scope,
} from '../rules/permissions.ts';
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

const WORKSPACES_MESSAGE = 'every workspace must be one you are a member of and this key can reach; check the ids';

/**
 * Validates a key's shape and its workspaces. `reachable` loads what the calling key can see (the
 * user's memberships within the key's own restriction): a workspace outside it gets the same
 * answer as one that does not exist. Without it (the CLI) any workspace of the user will do.
 */
export async function validateKeySpec(
  userId: Types.ObjectId,
  input: KeySpecInput,
  options: { reachable?: () => Promise<ReadonlySet<string>>; now?: Date } = {},
): Promise<KeySpec> {
  const now = options.now ?? new Date();
  const scopes = validateScopes(input.permission, input.scopes ?? []);
  if (typeof scopes === 'string') throw new ValidationError('input.scopes', scopes);
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new ValidationError('input.expiresAt', 'expiresAt must be in the future');
  }
  const workspaces = [...new Map((input.workspaceIds ?? []).map((id) => [String(id), id])).values()];
  if (workspaces.length > 0) {
    const reachable = await options.reachable?.();
    const found = reachable
      ? workspaces.filter((id) => reachable.has(String(id))).length
      : await Membership.countDocuments({ userId, workspaceId: { $in: workspaces } });
    if (found !== workspaces.length) throw new ValidationError('input.workspaceIds', WORKSPACES_MESSAGE);
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

/** The restrictions of a stored key or a validated spec, as the permission maths sees them. */
export function boundsOf(
  key: Pick<KeySpec, 'permission' | 'scopes' | 'workspaces' | 'allowedIps'> & Partial<Pick<KeySpec, 'expiresAt' | 'rateLimit'>>,
): KeyBounds {
  return {
    permission: key.permission,
    scopes: key.scopes,
    workspaces: key.workspaces.map(String),
    expiresAt: key.expiresAt ?? null,
    allowedIps: key.allowedIps,
    rateLimit: key.rateLimit ?? null,
  };
}

/** The input field each restriction is set through, for error messages. */
const INPUT_FIELD: Record<MintViolation['field'], string> = {
  permission: 'input.permission',
  scopes: 'input.scopes',
  workspaces: 'input.workspaceIds',
  expiresAt: 'input.expiresAt',
  allowedIps: 'input.allowedIps',
  rateLimit: 'input.rateLimit',
};

/**
 * Refuses a key that would be less restricted than the key creating, changing or rotating it
 * on any axis (null creator: the CLI, trusted).
 */
export function assertMintable(creator: KeyBounds | null, key: KeyBounds, settings: MintSettings): void {
  if (!creator) return;
  const [violation] = mintViolations(creator, key, settings);
  if (violation) throw new ValidationError(INPUT_FIELD[violation.field], `Escalation refused: ${violation.message}.`);
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
