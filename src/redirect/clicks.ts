import type { Logger } from 'pino';
import { PeriodicFlusher } from '../periodic-flusher.ts';
import { Types, type AnyBulkWriteOperation } from 'mongoose';
import { isBot } from 'isbot';
import UAParser from 'ua-parser-js';
import {
  BREAKDOWN_OF,
  ClickDay,
  encodeCounterKey,
  linkDayId,
  MAX_KEYS_PER_LINK_DAY,
  MAX_KEYS_PER_WORKSPACE_DAY,
  OTHER_KEY,
  workspaceDayId,
  type Breakdown,
  type ClickDayDoc,
  type DayCounts,
} from '../models/click-day.ts';
import { Link, type LinkDoc } from '../models/link.ts';
import { bulkWriteInChunks, chunked } from '../db/bulk.ts';
import { LruCache } from '../rules/lru-cache.ts';

export interface ClickFacts {
  referrerHost: string;
  device: string;
  browser: string;
  day: string;
  /** A crawler, link-preview fetcher or script by its User-Agent; no User-Agent at all counts as a person. */
  bot: boolean;
}

/** Reads one request header (node's IncomingMessage headers or a Fetch Headers object behind it). */
export type HeaderGetter = (name: 'referer' | 'user-agent') => string | null | undefined;

type AgentFacts = Pick<ClickFacts, 'device' | 'browser' | 'bot'>;

/** Parsing a User-Agent costs far more than a cached redirect: the common ones are parsed once. */
const agents = new LruCache<string, AgentFacts>(2000, Infinity);
/** Longer User-Agents (rare, and client-chosen) are parsed each time rather than cached. */
const MAX_CACHED_AGENT = 512;

function agentFacts(userAgent: string): AgentFacts {
  const cached = agents.get(userAgent);
  if (cached) return cached;
  const ua = new UAParser(userAgent).getResult();
  const facts = { bot: isBot(userAgent), device: ua.device.type ?? 'desktop', browser: (ua.browser.name ?? 'Other').slice(0, 64) };
  if (userAgent.length <= MAX_CACHED_AGENT) agents.set(userAgent, facts);
  return facts;
}

/** Reduces a request to the facts analytics keeps (no IPs, no full referrer URLs). */
export function clickFacts(headers: Headers | HeaderGetter, at = new Date()): ClickFacts {
  const header: HeaderGetter = typeof headers === 'function' ? headers : (name) => headers.get(name);
  let referrerHost = '(direct)';
  const referrer = header('referer');
  if (referrer) {
    try {
      referrerHost = new URL(referrer).hostname.toLowerCase() || '(direct)';
    } catch {
      referrerHost = '(unknown)';
    }
  }
  return { ...agentFacts(header('user-agent') ?? ''), referrerHost: referrerHost.slice(0, 253), day: at.toISOString().slice(0, 10) };
}

type ClickDimension = 'total' | 'bot' | 'referrer' | 'device' | 'browser';

/**
 * (day document, field) pairs whose keys this instance remembers, least recently used out: a
 * document gets at most MAX_KEYS_PER_*_DAY distinct referrers, browsers (and, on workspace days,
 * links) from one instance between two restarts, unless its set was evicted meanwhile.
 */
const KNOWN_KEY_SETS = 10_000;

/** The counts of one day document (link or workspace) waiting to be written. */
type PendingDay = DayCounts;

/** 32-bit FNV-1a: the known-key sets hold numbers, not attacker-sized strings. */
function keyHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * Clicks are counted in memory and written once per interval: one $inc per link, and one
 * upserting $inc per link day and per workspace day touched. A redirect never waits on a write.
 */
export class ClickRecorder extends PeriodicFlusher {
  private linkClicks = new Map<string, { clicks: number; botClicks: number }>();
  /** Per link since start: clicks recorded and clicks written, for exact maxClicks on cached links. */
  private recordedTotals = new Map<string, number>();
  private flushedTotals = new Map<string, number>();
  /** Day documents to bump, by _id. */
  private buckets = new Map<string, PendingDay>();
  /** Hashes of the keys each day document field has, as far as this instance wrote them. */
  private knownKeys = new LruCache<string, Set<number>>(KNOWN_KEY_SETS, Number.POSITIVE_INFINITY);

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
    const linkDay = this.pendingDay(linkDayId(link._id, day), link.workspaceId, link._id, day);
    const workspaceDay = this.pendingDay(workspaceDayId(link.workspaceId, day), link.workspaceId, null, day);
    if (dimension === 'bot') {
      linkDay.botClicks += 1;
      workspaceDay.botClicks += 1;
    } else if (dimension === 'total') {
      linkDay.clicks += 1;
      workspaceDay.clicks += 1;
      this.count(workspaceDay, 'links', String(link._id), MAX_KEYS_PER_WORKSPACE_DAY);
    } else {
      this.count(linkDay, BREAKDOWN_OF[dimension], value, MAX_KEYS_PER_LINK_DAY);
      this.count(workspaceDay, BREAKDOWN_OF[dimension], value, MAX_KEYS_PER_WORKSPACE_DAY);
    }
  }

  private pendingDay(_id: string, workspaceId: Types.ObjectId, linkId: Types.ObjectId | null, day: string): PendingDay {
    let pending = this.buckets.get(_id);
    if (!pending) {
      pending = { _id, workspaceId, linkId, day, clicks: 0, botClicks: 0, counts: { referrers: new Map(), devices: new Map(), browsers: new Map(), links: new Map() } };
      this.buckets.set(_id, pending);
    }
    return pending;
  }

  private count(pending: PendingDay, field: Breakdown | 'links', value: string, maxKeys: number): void {
    const counts = pending.counts[field];
    const seen = counts.get(value);
    if (seen !== undefined) return void counts.set(value, seen + 1); // already let in this interval
    const key = field === 'devices' ? value : this.cappedKey(pending._id, field, value, maxKeys);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }

  /** The value itself while the document has room for another key (or already has it), else OTHER_KEY. */
  private cappedKey(_id: string, field: Breakdown | 'links', value: string, maxKeys: number): string {
    const setId = `${_id}\u0000${field}`;
    let known = this.knownKeys.get(setId);
    if (!known) this.knownKeys.set(setId, (known = new Set()));
    const hash = keyHash(value);
    if (known.has(hash)) return value;
    if (known.size >= maxKeys) return OTHER_KEY;
    known.add(hash);
    return value;
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
      this.failed = true;
      // Logged, not retried: a retry after a partial write would count clicks twice.
      this.logger.error({ err: error, links: linkClicks.size, buckets: buckets.length }, 'click flush failed');
    }
  }

  private async writeBuckets(days: PendingDay[]): Promise<void> {
    const ops: AnyBulkWriteOperation<ClickDayDoc>[] = days.map((d) => {
      const $inc: Record<string, number> = {};
      if (d.clicks) $inc.clicks = d.clicks;
      if (d.botClicks) $inc.botClicks = d.botClicks;
      for (const [field, counts] of Object.entries(d.counts)) {
        for (const [value, clicks] of counts) $inc[`${field}.${encodeCounterKey(value)}`] = clicks;
      }
      const $setOnInsert = d.linkId ? { workspaceId: d.workspaceId, linkId: d.linkId, day: d.day } : { workspaceId: d.workspaceId, day: d.day };
      return { updateOne: { filter: { _id: d._id }, update: { $inc, $setOnInsert }, upsert: true } };
    });
    for (const chunk of chunked(ops)) {
      try {
        await ClickDay.bulkWrite(chunk, { ordered: false });
      } catch (error) {
        // Two instances upserting the same new day document: the loser gets 11000; its $inc is safe to redo.
        const failed = (error as { writeErrors?: { index: number; code: number }[] }).writeErrors ?? [];
        if (failed.length === 0 || failed.some((e) => e.code !== 11000)) throw error;
        await ClickDay.bulkWrite(
          failed.map((e) => chunk[e.index]!),
          { ordered: false },
        );
      }
    }
  }
}
