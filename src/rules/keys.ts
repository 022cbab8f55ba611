import { createHmac, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

// Key format: taapit_ + 32 random base62 chars + 6 base62 chars of CRC32(random part).
/** A key is usable or deactivated for good. */
export const KEY_STATUSES = ['ACTIVE', 'DEACTIVATED'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];
/** Why a key is not usable: stored when it is deactivated; EXPIRED is read from `expiresAt`. */
export const DEACTIVATION_REASONS = ['MANUAL', 'EXPIRED', 'IDLE', 'ROTATED', 'LEAKED', 'POLICY'] as const;
export type DeactivationReason = (typeof DEACTIVATION_REASONS)[number];

export const KEY_PREFIX = 'taapit_';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_PATTERN = new RegExp(`^${KEY_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

/** `length` base62 characters from crypto.randomBytes, unbiased (bytes >= 248 are dropped). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function toBase62(value: number, width: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

function checksum(randomPart: string): string {
  return toBase62(crc32(randomPart), CHECKSUM_LENGTH);
}

export function generateApiKey(): string {
  const randomPart = randomBase62(RANDOM_LENGTH);
  return `${KEY_PREFIX}${randomPart}${checksum(randomPart)}`;
}

/** Format and checksum only: no database involved, so junk never costs a query. */
export function isWellFormedApiKey(candidate: string): boolean {
  if (!KEY_PATTERN.test(candidate)) return false;
  const body = candidate.slice(KEY_PREFIX.length);
  return checksum(body.slice(0, RANDOM_LENGTH)) === body.slice(RANDOM_LENGTH);
}

/** What is stored and looked up: HMAC-SHA256(pepper, key), never the key itself. */
export function hashApiKey(key: string, pepper: string): string {
  return createHmac('sha256', pepper).update(key).digest('base64url');
}

/** A display hint that identifies a key to its owner without revealing it: taapit_AbCd…wXyZ */
export function keyHint(key: string): string {
  return `${key.slice(0, KEY_PREFIX.length + 4)}…${key.slice(-4)}`;
}

export const MAX_IDLE_TIMEOUT_DAYS = 3650;
const DAY_MS = 24 * 3600 * 1000;

/**
 * When a key with idleTimeoutDays stops working unless used before: that many days after its last
 * use (`lastUsed`: the latest one known, from the database or this instance), or after its creation
 * when it was never used. Null for a key without idleTimeoutDays.
 */
export function idleDeadline(
  key: { idleTimeoutDays?: number | null; lastUsedAt?: Date | null; createdAt: Date },
  lastUsed = 0,
): number | null {
  if (key.idleTimeoutDays == null) return null;
  const since = Math.max(key.lastUsedAt?.getTime() ?? 0, key.createdAt.getTime(), lastUsed);
  return since + key.idleTimeoutDays * DAY_MS;
}
