// Which permissions a key holds and how its daily usage adds up: plain functions, no database.

import { canReadKeys, canWriteKeys, keyAccess, permissionName, RESOURCES, type KeyGrant } from './permissions.ts';

export const PERMISSION_USAGE_MAX_DAYS = 90;
export const PERMISSION_USAGE_DEFAULT_DAYS = 30;

/** Every permission name the key holds, e.g. `links:read`, `links:write` (WRITE implies READ, so both), `keys:read`. */
export function heldPermissions(grant: Pick<KeyGrant, 'permission' | 'scopes'>): string[] {
  const names = RESOURCES.flatMap((resource) => {
    const access = keyAccess(grant, resource);
    if (access === 'NONE') return [];
    const read = permissionName(resource, 'READ');
    return access === 'WRITE' ? [read, permissionName(resource, 'WRITE')] : [read];
  });
  if (canReadKeys(grant)) names.push(permissionName('KEYS', 'READ'));
  if (canWriteKeys(grant)) names.push(permissionName('KEYS', 'WRITE'));
  return names;
}

/** The `days` UTC days ending with the day of `now` (YYYY-MM-DD), newest first. */
export function windowDays(days: number, now: Date): string[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: days }, (_, i) => new Date(today - i * 86_400_000).toISOString().slice(0, 10));
}

export interface DayUsage {
  uses?: Record<string, number>;
  last?: Record<string, Date>;
}

export interface PermissionUse {
  permission: string;
  uses: number;
  lastUsedAt: Date | null;
}

/** Each held permission with its uses and last use summed over the days read; unused ones with 0. */
export function sumPermissionUsage(held: readonly string[], days: readonly DayUsage[]): PermissionUse[] {
  return held.map((permission) => {
    let uses = 0;
    let lastUsedAt: Date | null = null;
    for (const day of days) {
      uses += day.uses?.[permission] ?? 0;
      const last = day.last?.[permission];
      if (last && (!lastUsedAt || last > lastUsedAt)) lastUsedAt = new Date(last);
    }
    return { permission, uses, lastUsedAt };
  });
}
