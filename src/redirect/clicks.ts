import type { Logger } from 'pino';
import { PeriodicFlusher } from '../periodic-flusher.ts';
import { Types, type AnyBulkWriteOperation } from 'mongoose';
import { isBot } from 'isbot';
import UAParser from 'ua-parser-js';
import { ClickBucket, clickBucketId, type ClickBucketDoc, type ClickDimension } from '../models/click-bucket.ts';
import { Link, type LinkDoc } from '../models/link.ts';
import { bulkWriteInChunks, chunked } from '../db/bulk.ts';

export interface ClickFacts {
  referrerHost: string;
  device: string;
  browser: string;
  day: string;
  /** A crawler, link-preview fetcher or script by its User-Agent; no User-Agent at all counts as a person. */
  bot: boolean;
}

/** Reduces a request to the facts analytics keeps (no IPs, no full referrer URLs). */
export function clickFacts(headers: Headers, at = new Date()): ClickFacts {
  let referrerHost = '(direct)';
  const referrer = headers.get('referer');
  if (referrer) {
    try {
      referrerHost = new URL(referrer).hostname.toLowerCase() || '(direct)';
    } catch {
      referrerHost = '(unknown)';
    }
  }
  const userAgent = headers.get('user-agent') ?? '';
  const ua = new UAParser(userAgent).getResult();
  return {
    bot: isBot(userAgent),
    referrerHost: referrerHost.slice(0, 253),
    device: ua.device.type ?? 'desktop',
    browser: (ua.browser.name ?? 'Other').slice(0, 64),
    day: at.toISOString().slice(0, 10),
  };
}

interface PendingBucket {
  workspaceId: Types.ObjectId;
  linkId: Types.ObjectId;
  day: string;
  dimension: ClickDimension;
  value: string;
  clicks: number;
}

/**
 * Clicks are counted in memory and written once per interval: one $inc per link and one
 * upserting $inc per (link, day, dimension, value) bucket. A redirect never waits on a write.
 */
export class ClickRecorder extends PeriodicFlusher {
  private linkClicks = new Map<string, { clicks: number; botClicks: number }>();
  /** Per link since start: clicks recorded and clicks written, for exact maxClicks on cached links. */
  private recordedTotals = new Map<string, number>();
  private flushedTotals = new Map<string, number>();
  private buckets = new Map<string, PendingBucket>();

  constructor(
    intervalMs: number,
    private readonly logger: Logger,
  ) {
    super(intervalMs);
  }

  record(link: Pick<LinkDoc, '_id' | 'workspaceId' | 'maxClicks'>, facts: ClickFacts): void {
    const linkId = String(link._id);
    const pending = this.linkClicks.get(linkId) ?? { clicks: 0, botClicks: 0 };
    this.linkClicks.set(linkId, pending);
    if (facts.bot) {
      // Counted apart: not a click, not part of the breakdowns, never uses up maxClicks.
      pending.botClicks += 1;
      this.bump(link, facts.day, 'bot', 'all');
      return;
    }
    pending.clicks += 1;
    // Running totals only where they matter (a click limit), so memory stays bounded by those links.
    if (link.maxClicks != null) this.recordedTotals.set(linkId, (this.recordedTotals.get(linkId) ?? 0) + 1);
    this.bump(link, facts.day, 'total', 'all');
    this.bump(link, facts.day, 'referrer', facts.referrerHost);
    this.bump(link, facts.day, 'device', facts.device);
    this.bump(link, facts.day, 'browser', facts.browser);
  }

  private bump(link: Pick<LinkDoc, '_id' | 'workspaceId'>, day: string, dimension: ClickDimension, value: string): void {
    const key = `${String(link._id)}\u0000${day}\u0000${dimension}\u0000${value}`;
    const bucket = this.buckets.get(key);
    if (bucket) bucket.clicks += 1;
    else this.buckets.set(key, { workspaceId: link.workspaceId, linkId: link._id, day, dimension, value, clicks: 1 });
  }

  /** How many of this link's clicks this instance has written so far: a mark taken when a link is read. */
  flushedMark(linkId: string): number {
    return this.flushedTotals.get(linkId) ?? 0;
  }

  /** Clicks recorded here that a link document read at `mark` does not include yet. */
  unseenSince(linkId: string, mark: number): number {
    return (this.recordedTotals.get(linkId) ?? 0) - mark;
  }

  protected async writePending(): Promise<void> {
    if (this.linkClicks.size === 0 && this.buckets.size === 0) return;
    const linkClicks = this.linkClicks;
    const buckets = [...this.buckets.values()];
    this.linkClicks = new Map();
    this.buckets = new Map();
    try {
      if (linkClicks.size > 0) {
        await bulkWriteInChunks(
          Link,
          [...linkClicks].map(([id, { clicks, botClicks }]) => ({
            updateOne: { filter: { _id: new Types.ObjectId(id) }, update: { $inc: { clicks, botClicks } } },
          })),
        );
      }
      for (const [id, { clicks }] of linkClicks) {
        if (this.recordedTotals.has(id)) this.flushedTotals.set(id, (this.flushedTotals.get(id) ?? 0) + clicks);
      }
      await this.writeBuckets(buckets);
    } catch (error) {
      // Logged, not retried: a retry after a partial write would count clicks twice.
      this.logger.error({ err: error, links: linkClicks.size, buckets: buckets.length }, 'click flush failed');
    }
  }

  private async writeBuckets(buckets: PendingBucket[]): Promise<void> {
    const ops: AnyBulkWriteOperation<ClickBucketDoc>[] = buckets.map((b) => ({
      updateOne: {
        filter: { _id: clickBucketId(b.linkId, b.day, b.dimension, b.value) },
        update: {
          $inc: { clicks: b.clicks },
          $setOnInsert: { workspaceId: b.workspaceId, linkId: b.linkId, day: b.day, dimension: b.dimension, value: b.value },
        },
        upsert: true,
      },
    }));
    for (const chunk of chunked(ops)) {
      try {
        await ClickBucket.bulkWrite(chunk, { ordered: false });
      } catch (error) {
        // Two instances upserting the same new bucket: the loser gets 11000; its $inc is safe to redo.
        const failed = (error as { writeErrors?: { index: number; code: number }[] }).writeErrors ?? [];
        if (failed.length === 0 || failed.some((e) => e.code !== 11000)) throw error;
        await ClickBucket.bulkWrite(
          failed.map((e) => chunk[e.index]!),
          { ordered: false },
        );
      }
    }
  }

}
