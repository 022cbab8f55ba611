import type { Model } from 'mongoose';
import { SlotClaimer } from '../db/unique.ts';
import { RateLimitWindow, type RateLimitWindowDoc } from '../models/rate-limit-window.ts';

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

/**
 * The same windows in MongoDB, shared by every instance behind a load balancer. Each allowed
 * request claims the next numbered slot of its key's window (one insert), which stays exact when
 * instances write on different connections; once the window is full this process refuses from
 * memory, without a query.
 */
export class MongoRateLimiter implements RateLimiter {
  private lastPurge = 0;
  private window = 0;
  private readonly slots: SlotClaimer<RateLimitWindowDoc>;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly model: Model<RateLimitWindowDoc> = RateLimitWindow,
  ) {
    this.slots = new SlotClaimer(model);
  }

  async hit(keyId: string, limit: number): Promise<RateLimitDecision> {
    const now = this.now();
    const start = now - (now % WINDOW_MS);
    if (start > this.window) {
      // The hints are for windows that are over.
      this.window = start;
      this.slots.forgetAll();
    }
    const claimed = await this.slots.claim(`${keyId}:${start}`, limit, 1, { windowStart: new Date(start) });
    if (now - this.lastPurge > WINDOW_MS) {
      this.lastPurge = now;
      void this.model.deleteMany({ windowStart: { $lt: new Date(start - WINDOW_MS) } }).catch(() => {});
    }
    return decide(claimed ?? limit + 1, limit, start, now);
  }
}

/**
 * Failed authentications per client address. Once an address reaches `limit` failures in the
 * current window (shared through the limiter's store), its further attempts are refused from
 * this process's memory, before any key lookup, so a flood of guesses costs no query. Attempts
 * still in flight count too, so a burst cannot slip past the limit before its failures land.
 */
export class AuthFailureThrottle {
  private readonly addresses = new Map<string, { failures: number; pending: number; until: number }>();
  /** Requests waiting for an attempt of their address in flight to settle. */
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(
    private readonly limiter: RateLimiter,
    private readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Seconds to wait when `address` may not try now; 0 reserves one attempt, to be passed to
   * settle(); 'in-flight' when only attempts still in flight are in the way (see settled()).
   */
  begin(address: string): number | 'in-flight' {
    const now = this.now();
    let entry = this.addresses.get(address);
    if (entry && entry.until <= now && entry.pending === 0) {
      this.addresses.delete(address);
      entry = undefined;
    }
    if (!entry) {
      if (this.addresses.size > 50_000) this.addresses.clear();
      entry = { failures: 0, pending: 0, until: now + WINDOW_MS };
      this.addresses.set(address, entry);
    }
    if (entry.failures >= this.limit) return Math.max(1, Math.ceil((entry.until - now) / 1000));
    // Only in-flight attempts are in the way: they may all succeed (a burst of one valid key).
    if (entry.failures + entry.pending >= this.limit) return 'in-flight';
    entry.pending += 1;
    return 0;
  }

  /** Resolves when an attempt of `address` in flight settles, or after `timeoutMs`. */
  settled(address: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const waiting = this.waiters.get(address) ?? [];
      waiting.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.waiters.set(address, waiting);
    });
  }

  /** Ends an attempt reserved by begin(); a failure is counted here and in the shared store. */
  async settle(address: string, failed: boolean): Promise<void> {
    const entry = this.addresses.get(address);
    if (entry) {
      entry.pending = Math.max(0, entry.pending - 1);
      if (failed) entry.failures += 1;
    }
    const waiting = this.waiters.get(address);
    if (waiting) {
      this.waiters.delete(address);
      for (const wake of waiting) wake();
    }
    if (!failed) return;
    const decision = await this.limiter.hit(`auth-failures:${address}`, this.limit);
    const current = this.addresses.get(address);
    if (current) {
      current.failures = Math.max(current.failures, decision.limit - decision.remaining);
      current.until = this.now() + decision.resetSeconds * 1000;
    }
  }
}
