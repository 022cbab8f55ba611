// Workspace key policies: plain functions, no GraphQL and no database.

/** The rules a workspace may impose on the keys used inside it, in the order they are checked. */
export const KEY_POLICY_RULES = ['requireExpiry', 'maxLifetimeDays', 'requireIpAllowlist'] as const;
export type KeyPolicyRule = (typeof KEY_POLICY_RULES)[number];

export interface KeyPolicy {
  /** The longest a key may live, from its creation to its expiresAt; null: no limit. */
  maxLifetimeDays: number | null;
  requireExpiry: boolean;
  requireIpAllowlist: boolean;
}

export const NO_KEY_POLICY: KeyPolicy = { maxLifetimeDays: null, requireExpiry: false, requireIpAllowlist: false };

export const MAX_LIFETIME_DAYS_LIMIT = 3650;

const DAY_MS = 86_400_000;

/** What a policy looks at on a key. */
export interface PolicyKey {
  createdAt: Date;
  expiresAt?: Date | null;
  allowedIps: readonly string[];
}

/** The first rule of `policy` the key breaks, or null when it complies (a missing policy imposes nothing). */
export function keyPolicyViolation(policy: Partial<KeyPolicy> | null | undefined, key: PolicyKey): KeyPolicyRule | null {
  if (!policy) return null;
  const expiresAt = key.expiresAt ?? null;
  if (policy.requireExpiry && !expiresAt) return 'requireExpiry';
  // A key that never expires lives longer than any maximum.
  if (policy.maxLifetimeDays != null && (!expiresAt || expiresAt.getTime() - key.createdAt.getTime() > policy.maxLifetimeDays * DAY_MS)) {
    return 'maxLifetimeDays';
  }
  if (policy.requireIpAllowlist && key.allowedIps.length === 0) return 'requireIpAllowlist';
  return null;
}

/** What the refusal says: the rule and how to get a key that complies. */
export function keyPolicyMessage(rule: KeyPolicyRule, policy: Partial<KeyPolicy>): string {
  const fix = {
    requireExpiry: 'keys used here must have an expiresAt; use or create a key that expires',
    maxLifetimeDays: `keys used here must expire within ${policy.maxLifetimeDays} days of their creation; use or create a key with an earlier expiresAt`,
    requireIpAllowlist: 'keys used here must have allowedIps; use or create a key limited to your addresses',
  }[rule];
  return `This workspace's key policy refuses this API key (${rule}): ${fix}. The key still works in other workspaces.`;
}

/** An error message for a maxLifetimeDays value, or null when it is valid. */
export function maxLifetimeDaysProblem(value: number | null): string | null {
  if (value === null) return null;
  return Number.isInteger(value) && value >= 1 && value <= MAX_LIFETIME_DAYS_LIMIT
    ? null
    : `maxLifetimeDays must be a whole number of days from 1 to ${MAX_LIFETIME_DAYS_LIMIT}, or null for no limit`;
}
