import type { Model } from 'mongoose';
import { SlotClaimer } from '../db/unique.ts';
import { RateLimitWindow, type RateLimitWindowDoc } from '../models/rate-limit-window.ts';

/**
 * Query-cost budgets: each key (or anonymous address) may spend `limit` points per fixed
 * one-minute window, the same windows as the request limit. A charge takes all its points or
 * none; a refund gives back points charged in the same window.
 */
export interface PointsStatus {
  limit: number;
  used: number;
  remaining: number;
  /** When the window ends and the whole budget is back (epoch ms). */
  resetAt: number;
}

export interface PointsCharge extends PointsStatus {
  allowed: boolean;
  /** Seconds until the window resets, by the budget's own clock (for Retry-After). */
  resetSeconds: number;
}

export interface PointsBudget {
  charge(id: string, limit: number, cost: number): Promise<PointsCharge>;
  /** Returns points charged in the window ending at `resetAt`; nothing once that window is over. */
  refund(id: string, limit: number, points: number, resetAt: number): void;
  /** The budget as this process knows it, without charging (and without a query). */
  peek(id: string, limit: number): PointsStatus;
}

/** What Query.rateLimit reads: this request's requested cost and its budget after charging it. */
export interface RequestCost {
  requested: number;
  charge: PointsStatus;
}

export const POINTS_WINDOW_MS = 60_000;

interface Window {
  start: number;
  limit: number;
  used: number;
}

/** Windows per id in this process's memory, dropped wholesale past `max` ids (like the request limiter). */
class Windows<W extends Window> {
  private readonly map = new Map<string, W>();

  constructor(private readonly create: (start: number, limit: number) => W) {}

  current(id: string, limit: number, now: number): W {
    const start = now - (now % POINTS_WINDOW_MS);
    let window = this.map.get(id);
    // A changed limit starts a fresh window record (see the README): simplest rule both stores can keep.
    if (!window || window.start !== start || window.limit !== limit) {
      if (this.map.size > 50_000) this.map.clear();
      window = this.create(start, limit);
      this.map.set(id, window);
    }
    return window;
  }

  existing(id: string, resetAt: number): W | undefined {
    const window = this.map.get(id);
    return window && window.start + POINTS_WINDOW_MS === resetAt ? window : undefined;
  }
}

function resetSeconds(window: Window, now: number): number {
  return Math.max(1, Math.ceil((window.start + POINTS_WINDOW_MS - now) / 1000));
}

function status(window: Window, remaining: number): PointsStatus {
  const left = Math.min(window.limit, Math.max(0, remaining));
  return { limit: window.limit, used: window.limit - left, remaining: left, resetAt: window.start + POINTS_WINDOW_MS };
}

/** The default (one instance): exact, and no database command at all. */
export class MemoryPointsBudget implements PointsBudget {
  private readonly windows = new Windows<Window>((start, limit) => ({ start, limit, used: 0 }));

  constructor(private readonly now: () => number = Date.now) {}

  async charge(id: string, limit: number, cost: number): Promise<PointsCharge> {
    const now = this.now();
    const window = this.windows.current(id, limit, now);
    const allowed = window.used + cost <= limit;
    if (allowed) window.used += cost;
    return { ...status(window, limit - window.used), allowed, resetSeconds: resetSeconds(window, now) };
  }

  refund(id: string, _limit: number, points: number, resetAt: number): void {
    const window = this.windows.existing(id, resetAt);
    if (window) window.used = Math.max(0, window.used - points);
  }

  peek(id: string, limit: number): PointsStatus {
    const window = this.windows.current(id, limit, this.now());
    return status(window, limit - window.used);
  }
}

/** Blocks a budget is leased in: a twentieth of it, so a key's window costs at most 20 inserts. */
export const POINTS_BLOCKS = 20;

interface LeasedWindow extends Window {
  /** Points of the blocks this process has claimed in the window. */
  leased: number;
  /** The highest block number known to be taken (by anyone). */
  highestBlock: number;
  /** The block claim in flight: concurrent charges wait for it rather than claim more blocks. */
  claiming?: Promise<void>;
}

/**
 * The budgets in MongoDB, shared by instances (RATE_LIMIT_STORE=mongo). A window's budget is cut
 * into numbered blocks; a process claims a block (one insert, the slot-claiming write two
 * connections cannot both win) when its lease runs short, and spends and refunds within its lease
 * from memory. So the points spent across instances never exceed the budget; what one instance
 * leased but has not spent (at most one block each) is unavailable to the others for that window.
 */
export class MongoPointsBudget implements PointsBudget {
  private readonly windows = new Windows<LeasedWindow>((start, limit) => ({ start, limit, used: 0, leased: 0, highestBlock: 0 }));
  private readonly slots: SlotClaimer<RateLimitWindowDoc>;
  private window = 0;

  constructor(
    private readonly now: () => number = Date.now,
    model: Model<RateLimitWindowDoc> = RateLimitWindow,
  ) {
    // Old blocks are purged with the request windows (same collection, same windowStart).
    this.slots = new SlotClaimer(model);
  }

  async charge(id: string, limit: number, cost: number): Promise<PointsCharge> {
    const now = this.now();
    const start = now - (now % POINTS_WINDOW_MS);
    if (start > this.window) {
      this.window = start;
      this.slots.forgetAll();
    }
    const block = Math.ceil(limit / POINTS_BLOCKS);
    const blocks = Math.ceil(limit / block);
    for (;;) {
      const window = this.windows.current(id, limit, now);
      if (window.used + cost <= window.leased) {
        window.used += cost;
        return { ...this.status(window, block), allowed: true, resetSeconds: resetSeconds(window, now) };
      }
      if (cost > limit || window.highestBlock >= blocks) return { ...this.status(window, block), allowed: false, resetSeconds: resetSeconds(window, now) };
      // One claim at a time per window in this process: a burst of concurrent requests would
      // otherwise lease every block at once and leave other instances none.
      if (window.claiming) {
        await window.claiming;
        continue;
      }
      window.claiming = this.claimBlock(window, `points:${id}:${start}:${limit}`, blocks, block, start).finally(() => (window.claiming = undefined));
      await window.claiming;
    }
  }

  private async claimBlock(window: LeasedWindow, prefix: string, blocks: number, block: number, start: number): Promise<void> {
    const n = await this.slots.claim(prefix, blocks, window.highestBlock + 1, { windowStart: new Date(start) });
    if (n === null) {
      window.highestBlock = blocks;
      return;
    }
    window.highestBlock = Math.max(window.highestBlock, n);
    window.leased += Math.min(n * block, window.limit) - (n - 1) * block;
  }

  refund(id: string, _limit: number, points: number, resetAt: number): void {
    const window = this.windows.existing(id, resetAt);
    if (window) window.used = Math.max(0, window.used - points);
  }

  peek(id: string, limit: number): PointsStatus {
    return this.status(this.windows.current(id, limit, this.now()), Math.ceil(limit / POINTS_BLOCKS));
  }

  /** Remaining = the blocks nobody has claimed (as far as this process knows) plus its own unspent lease. */
  private status(window: LeasedWindow, block: number): PointsStatus {
    const unclaimed = window.limit - Math.min(window.highestBlock * block, window.limit);
    return status(window, unclaimed + window.leased - window.used);
  }
}
