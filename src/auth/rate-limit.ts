import { RateLimitWindow } from '../models/rate-limit-window.ts';

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

export interface RateLimiter {
  hit(keyId: string, limit: number): Promise<RateLimitDecision>;
}

const WINDOW_MS = 60_000;

function decide(count: number, limit: number, windowStart: number, now: number): RateLimitDecision {
  return {
    allowed: count <= limit,
    limit,
    remaining: Math.max(0, limit - count),
    resetSeconds: Math.max(1, Math.ceil((windowStart + WINDOW_MS - now) / 1000)),
  };
}

/** Fixed one-minute windows per key, in this process's memory (the default: one instance). */
export class MemoryRateLimiter implements RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async hit(keyId: string, limit: number): Promise<RateLimitDecision> {
    const now = this.now();
    const start = now - (now % WINDOW_MS);
    let window = this.windows.get(keyId);
    if (!window || window.start !== start) {
      if (this.windows.size > 50_000) this.windows.clear();
      window = { start, count: 0 };
      this.windows.set(keyId, window);
    }
    window.count += 1;
    return decide(window.count, limit, start, now);
  }
}

/** The same windows in MongoDB, shared by every instance behind a load balancer (one upsert per request). */
export class MongoRateLimiter implements RateLimiter {
  private lastPurge = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async hit(keyId: string, limit: number): Promise<RateLimitDecision> {
    const now = this.now();
    const start = now - (now % WINDOW_MS);
    const doc = await RateLimitWindow.findOneAndUpdate(
      { _id: `${keyId}:${start}` },
      { $inc: { count: 1 }, $setOnInsert: { windowStart: new Date(start) } },
      { upsert: true, new: true },
    )
      .lean()
      .exec();
    if (now - this.lastPurge > WINDOW_MS) {
      this.lastPurge = now;
      void RateLimitWindow.deleteMany({ windowStart: { $lt: new Date(start - WINDOW_MS) } }).catch(() => {});
    }
    return decide(doc?.count ?? 1, limit, start, now);
  }
}
