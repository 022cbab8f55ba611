import type { Logger } from 'pino';
import { PeriodicFlusher } from '../periodic-flusher.ts';
import { Types } from 'mongoose';
import { bulkWriteInChunks } from '../db/bulk.ts';
import { ApiKey } from '../models/api-key.ts';

interface PendingUsage {
  count: number;
  lastUsedAt: Date;
  lastIp: string | null;
}

/**
 * Key usage (lastUsedAt, usageCount, last IP) collected in memory and written in one
 * bulk write per interval, so the request path never waits on a usage write.
 */
export class UsageRecorder extends PeriodicFlusher {
  private pending = new Map<string, PendingUsage>();

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

  protected async writePending(): Promise<void> {
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

}
