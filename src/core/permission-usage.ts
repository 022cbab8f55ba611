import type { ApiKeyDoc } from '../models/api-key.ts';
import { PermissionUsageDay, permissionUsageDayId, type PermissionUsageDayDoc } from '../models/permission-usage.ts';
import { heldPermissions, sumPermissionUsage, windowDays, type PermissionUse } from '../rules/permission-usage.ts';
import type { Actor } from './actor.ts';

/**
 * How a key used each permission it holds over the last `days` UTC days (today included), from
 * the per-day documents the usage recorder flushes: one read by `_id` per day (the embedded
 * database scans for $in), or one $in on MongoDB. Counts are up to USAGE_FLUSH_MS late.
 */
export async function permissionUsage(actor: Actor, key: ApiKeyDoc, days: number, now = new Date()): Promise<PermissionUse[]> {
  actor.signal?.throwIfAborted();
  const ids = windowDays(days, now).map((day) => permissionUsageDayId(key._id, day));
  const found =
    actor.services.db.kind === 'ferretdb'
      ? await Promise.all(ids.map((id) => PermissionUsageDay.findById(id, { uses: 1, last: 1 }).lean<PermissionUsageDayDoc>().exec()))
      : await PermissionUsageDay.find({ _id: { $in: ids } }, { uses: 1, last: 1 }).lean<PermissionUsageDayDoc[]>().exec();
  return sumPermissionUsage(heldPermissions(key), found.filter((doc) => doc !== null));
}
