import type { Logger } from 'pino';
import { PeriodicFlusher } from '../periodic-flusher.ts';
import { Types } from 'mongoose';
import { bulkWriteInChunks } from '../db/bulk.ts';
import { ApiKey } from '../models/api-key.ts';
import { PermissionUsageDay, permissionUsageDayId, utcDay } from '../models/permission-usage.ts';

interface PendingUsage {
  count: number;
  lastUsedAt: Date;
  lastIp: string | null;
}

/** One key's uses of its permissions on one UTC day, by permission name. */
interface PendingPermissions {
  keyId: string;
  day: string;
  uses: Map<string, { count: number; last: Date }>;
}

/**
 * Key usage (lastUsedAt, usageCount, last IP) collected in memory and written in one
 * bulk write per interval, so the request path never waits on a usage write.
 */
export class UsageRecorder extends PeriodicFlusher {
  private pending = new Map<string, PendingUsage>();
  /** By permission-usage document id (`<keyId>:<day>`). */
  private permissions = new Map<string, PendingPermissions>();

  constructor(
    intervalMs: number,
    private readonly logger: Logger,
  ) {
    super(intervalMs);
  }

  record(keyId: string, ip: string | null, at = new Date()): void {
    const entry = this.pending.get(keyId);
    if (entry) {
      entry.count += 1;
      entry.lastUsedAt = at;
      entry.lastIp = ip;
    } else {
      this.pending.set(keyId, { count: 1, lastUsedAt: at, lastIp: ip });
    }
  }

  /** A request used `permission` (called once per request and permission). */
  recordPermission(keyId: string, permission: string, at = new Date()): void {
    const day = utcDay(at);
    const id = permissionUsageDayId(keyId, day);
    let entry = this.permissions.get(id);
    if (!entry) this.permissions.set(id, (entry = { keyId, day, uses: new Map() }));
    const use = entry.uses.get(permission);
    if (use) {
      use.count += 1;
      use.last = at;
    } else {
      entry.uses.set(permission, { count: 1, last: at });
    }
  }

  protected async writePending(): Promise<void> {
    await this.writePermissions();
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const ops = [...batch].map(([keyId, usage]) => ({
      updateOne: {
        filter: { _id: new Types.ObjectId(keyId) },
        update: { $inc: { usageCount: usage.count }, $max: { lastUsedAt: usage.lastUsedAt }, $set: { lastUsedIp: usage.lastIp } },
      },
    }));
    try {
      await bulkWriteInChunks(ApiKey, ops);
    } catch (error) {
      this.failed = true;
      // Put the counts back so the next flush retries them.
      for (const [keyId, usage] of batch) {
        const entry = this.pending.get(keyId);
        if (entry) entry.count += usage.count;
        else this.pending.set(keyId, usage);
      }
      this.logger.warn({ err: error, keys: batch.size }, 'usage flush failed; will retry');
    }
  }

  /** One `$inc` upsert per key and day, addressed by `_id`. */
  private async writePermissions(): Promise<void> {
    if (this.permissions.size === 0) return;
    const batch = this.permissions;
    this.permissions = new Map();
    const ops = [...batch].map(([id, entry]) => {
      const inc: Record<string, number> = {};
      const max: Record<string, Date> = {};
      for (const [permission, use] of entry.uses) {
        inc[`uses.${permission}`] = use.count;
        max[`last.${permission}`] = use.last;
      }
      return {
        updateOne: {
          filter: { _id: id },
          update: { $inc: inc, $max: max, $setOnInsert: { keyId: new Types.ObjectId(entry.keyId), day: entry.day } },
          upsert: true,
        },
      };
    });
    try {
      await bulkWriteInChunks(PermissionUsageDay, ops);
    } catch (error) {
      this.failed = true;
      // Put the counts back so the next flush retries them.
      for (const [id, entry] of batch) {
        const now = this.permissions.get(id);
        if (!now) {
          this.permissions.set(id, entry);
          continue;
        }
        for (const [permission, use] of entry.uses) {
          const current = now.uses.get(permission);
          if (!current) now.uses.set(permission, use);
          else current.count += use.count;
        }
      }
      this.logger.warn({ err: error, keys: batch.size }, 'permission usage flush failed; will retry');
    }
  }

}
