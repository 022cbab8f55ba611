import type { Logger } from 'pino';
import type { KeyAuthenticator } from '../auth/authenticate.ts';
import type { UsageRecorder } from '../auth/usage.ts';
import { readerOf } from '../db/read-connection.ts';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { appendChange } from '../models/change-log.ts';
import { idleDeadline } from '../rules/keys.ts';
import { auditSystem, type AuditRecorder } from './audit.ts';

/** How often each instance looks for idle keys: a scan of the keys that have a timeout. */
export const IDLE_KEY_CHECK_MS = 5 * 60_000;

export interface IdleKeyServices {
  authenticator: KeyAuthenticator;
  usage: UsageRecorder;
  audit: AuditRecorder;
  logger: Logger;
  config: { usageFlushMs: number };
}

type IdleCandidate = Pick<ApiKeyDoc, '_id' | 'userId' | 'hint' | 'idleTimeoutDays' | 'lastUsedAt' | 'createdAt'>;

/**
 * Deactivates (reason IDLE) every active key unused for longer than its idleTimeoutDays. They are
 * refused at authentication from their deadline on already; this makes it visible and final.
 * Uses still in some instance's usage batch are not in lastUsedAt yet: a key is only taken once
 * its deadline is two flush intervals past, and each update is conditional on the lastUsedAt read,
 * so a flush landing in between keeps the key. Returns the number deactivated.
 */
export async function deactivateIdleKeys(services: IdleKeyServices, now = new Date()): Promise<number> {
  await services.usage.flush();
  const margin = 2 * services.config.usageFlushMs;
  // A scan (no index on idleTimeoutDays): on the read connection, so it queues no request's reads.
  const candidates = await readerOf(ApiKey)
    .find({ status: 'ACTIVE', idleTimeoutDays: { $ne: null } }, { userId: 1, hint: 1, idleTimeoutDays: 1, lastUsedAt: 1, createdAt: 1 })
    .lean<IdleCandidate[]>()
    .exec();
  const idle = candidates.filter((key) => (idleDeadline(key) ?? Infinity) + margin <= now.getTime());
  let deactivated = 0;
  // One conditional write per idle key (few per run): a key used or changed since the read stays.
  for (const key of idle) {
    const taken = await ApiKey.updateOne(
      { _id: key._id, status: 'ACTIVE', lastUsedAt: key.lastUsedAt ?? null, idleTimeoutDays: key.idleTimeoutDays },
      { $set: { status: 'DEACTIVATED', deactivatedAt: now, deactivationReason: 'IDLE' } },
    );
    if (taken.modifiedCount !== 1) continue;
    deactivated += 1;
    services.authenticator.invalidate(key._id);
    await appendChange('key', key._id);
    await auditSystem(services, {
      action: 'apiKey.deactivated',
      target: { type: 'ApiKey', id: key._id },
      subjectUserId: key.userId,
      changes: { status: { before: 'ACTIVE', after: 'DEACTIVATED' }, deactivationReason: { after: 'IDLE' } },
    });
    services.logger.info({ keyId: String(key._id), hint: key.hint, idleTimeoutDays: key.idleTimeoutDays }, 'idle API key deactivated');
  }
  return deactivated;
}

/** Runs deactivateIdleKeys every IDLE_KEY_CHECK_MS (not at shutdown: nothing is lost by skipping a run). */
export class IdleKeyJob {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly services: IdleKeyServices,
    private readonly intervalMs = IDLE_KEY_CHECK_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.run(), this.intervalMs);
    this.timer.unref();
  }

  /** One run at a time; a failure is logged and the next run tries again. */
  run(now?: Date): Promise<unknown> {
    this.running = this.running.then(() =>
      deactivateIdleKeys(this.services, now).catch((error: unknown) => this.services.logger.warn({ err: error }, 'idle key check failed; will retry')),
    );
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
