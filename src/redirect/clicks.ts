import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { PeriodicFlusher } from '../periodic-flusher.ts';
import { Types, type mongo } from 'mongoose';
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
  type DayCounts,
} from '../models/click-day.ts';
import { Link, type LinkDoc } from '../models/link.ts';
import { chunked } from '../db/bulk.ts';
import { Journal, JournalBusyError } from '../db/journal.ts';
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

/** The clicks of one flush: what one journal segment holds, summed per document. */
interface Batch {
  /** Its journal segment (or, without a journal, its place in this process's sequence). */
  seq: number;
  /** Part of it may be stored already (a retry, or a segment left by a crash): skip documents that have it. */
  guarded: boolean;
  events: number;
  linkClicks: Map<string, { clicks: number; botClicks: number }>;
  /** Day documents to bump, by _id. */
  buckets: Map<string, PendingDay>;
}

/** One journal line: the facts of one click. */
type JournalLine = [linkId: string, workspaceId: string, day: string, bot: 0 | 1, referrerHost: string, device: string, browser: string];

/** Day documents known to exist: their first write of a guarded batch needs no creating upsert. */
const KNOWN_DAYS = 10_000;

/**
 * Clicks are counted in memory and written once per interval: one $inc per link, and one
 * upserting $inc per link day and per workspace day touched. With a journal (`openJournal`),
 * each click is also appended to it before its redirect is answered (`afterJournal`).
 *
 * A batch applied twice counts once: every document it bumps also gets `flushed.<stream>` = the
 * batch's number ($max, in the same single-document update, which is atomic on MongoDB and
 * FerretDB alike). Batches of one stream are applied in order, so a document whose mark is at
 * least a batch's number has it; a retried or replayed batch skips those documents.
 */
export class ClickRecorder extends PeriodicFlusher {
  private current: Batch;
  /** Closed batches not yet stored, oldest first; applied strictly in order. */
  private queue: Batch[] = [];
  private journal: Journal | null = null;
  /** Names this instance's batches in the documents' marks: the journal's, or one of this process. */
  private stream = randomBytes(8).toString('hex');
  private memorySeq = 0;
  private pendingEvents = 0;
  private dropped = 0;
  /** Totals since start, read by the metrics when scraped: plain numbers, so counting adds nothing to record(). */
  readonly counts = { recorded: 0, journaled: 0, flushed: 0, dropped: 0, flushFailures: 0 };
  /** Hashes of the keys each day document field has, as far as this instance wrote them. */
  private knownKeys = new LruCache<string, Set<number>>(KNOWN_KEY_SETS, Number.POSITIVE_INFINITY);
  private knownDays = new LruCache<string, true>(KNOWN_DAYS, Number.POSITIVE_INFINITY);

  constructor(
    intervalMs: number,
    private readonly logger: Logger,
    /** Clicks kept while the database cannot take them; past it new clicks are dropped (and counted in the log). */
    private readonly maxPendingEvents = 1_000_000,
  ) {
    super(intervalMs);
    this.current = this.newBatch(0, false);
  }

  /**
   * Journals every click from now on in `dir`, and stores what a previous process left there.
   * Another live server using `dir` leaves this one without a journal (logged).
   */
  async openJournal(dir: string): Promise<void> {
    try {
      this.journal = Journal.open(dir, (err, what) => this.logger.error({ err }, what));
    } catch (error) {
      if (!(error instanceof JournalBusyError)) throw error;
      this.logger.warn({ err: error }, 'click journal busy: clicks of this instance are not journaled (give each instance its own DATA_DIR)');
      return;
    }
    this.stream = this.journal.stream;
    let replayed = 0;
    for (const seq of this.journal.leftovers) {
      const batch = this.newBatch(seq, true);
      for (const line of this.journal.read(seq)) {
        const facts = parseLine(line);
        if (facts) this.add(batch, facts.link, facts);
      }
      replayed += batch.events;
      this.queue.push(batch);
    }
    this.pendingEvents += replayed;
    if (replayed > 0) this.logger.info({ segments: this.journal.leftovers.length, clicks: replayed }, 'replaying the click journal');
    await this.flush();
  }

  /** Runs `done` once the clicks recorded so far are in the journal (at once without one). */
  /** Clicks recorded (or replayed from the journal) and not yet written to the database. */
  get buffered(): number {
    return this.pendingEvents;
  }

  afterJournal(done: () => void): void {
    if (this.journal) this.journal.afterWrite(done);
    else done();
  }

  override async stop(): Promise<boolean> {
    const written = await super.stop();
    // What could not be written stays in the journal for the next start.
    this.journal?.close();
    this.journal = null;
    return written;
  }

  record(link: Pick<LinkDoc, '_id' | 'workspaceId' | 'maxClicks'>, facts: ClickFacts): void {
    if (this.pendingEvents >= this.maxPendingEvents) {
      this.dropped += 1;
      this.counts.dropped += 1;
      return;
    }
    this.pendingEvents += 1;
    this.counts.recorded += 1;
    this.add(this.current, link, facts);
    if (this.journal) {
      const line: JournalLine = [String(link._id), String(link.workspaceId), facts.day, facts.bot ? 1 : 0, facts.referrerHost, facts.device, facts.browser];
      this.journal.append(JSON.stringify(line));
      this.counts.journaled += 1;
    }
  }

  private newBatch(seq: number, guarded: boolean): Batch {
    return { seq, guarded, events: 0, linkClicks: new Map(), buckets: new Map() };
  }

  private add(batch: Batch, link: Pick<LinkDoc, '_id' | 'workspaceId'>, facts: ClickFacts): void {
    batch.events += 1;
    const linkId = String(link._id);
    const pending = batch.linkClicks.get(linkId) ?? { clicks: 0, botClicks: 0 };
    batch.linkClicks.set(linkId, pending);
    if (facts.bot) {
      // Counted apart: not a click, not part of the breakdowns, never uses up maxClicks.
      pending.botClicks += 1;
      this.bump(batch, link, facts.day, 'bot', 'all');
      return;
    }
    pending.clicks += 1;
    this.bump(batch, link, facts.day, 'total', 'all');
    this.bump(batch, link, facts.day, 'referrer', facts.referrerHost);
    this.bump(batch, link, facts.day, 'device', facts.device);
    this.bump(batch, link, facts.day, 'browser', facts.browser);
  }

  private bump(batch: Batch, link: Pick<LinkDoc, '_id' | 'workspaceId'>, day: string, dimension: ClickDimension, value: string): void {
    const linkDay = this.pendingDay(batch, linkDayId(link._id, day), link.workspaceId, link._id, day);
    const workspaceDay = this.pendingDay(batch, workspaceDayId(link.workspaceId, day), link.workspaceId, null, day);
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

  private pendingDay(batch: Batch, _id: string, workspaceId: Types.ObjectId, linkId: Types.ObjectId | null, day: string): PendingDay {
    let pending = batch.buckets.get(_id);
    if (!pending) {
      pending = { _id, workspaceId, linkId, day, clicks: 0, botClicks: 0, counts: { referrers: new Map(), devices: new Map(), browsers: new Map(), links: new Map() } };
      batch.buckets.set(_id, pending);
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

  protected async writePending(): Promise<void> {
    if (this.dropped > 0) {
      this.logger.error({ dropped: this.dropped, pending: this.pendingEvents }, 'click buffer full: clicks dropped');
      this.dropped = 0;
    }
    if (this.current.events > 0) {
      const batch = this.current;
      batch.seq = this.journal ? this.journal.rotate() : ++this.memorySeq;
      this.queue.push(batch);
      this.current = this.newBatch(this.journal?.currentSeq ?? 0, false);
    }
    while (this.queue.length > 0) {
      const batch = this.queue[0]!;
      try {
        await this.apply(batch);
      } catch (error) {
        this.failed = true;
        this.counts.flushFailures += 1;
        // Kept (in memory and in the journal) and retried in order; the marks make the retry skip what got through.
        batch.guarded = true;
        this.logger.error({ err: error, pending: this.pendingEvents, batches: this.queue.length }, 'click flush failed; will retry');
        return;
      }
      this.queue.shift();
      this.pendingEvents -= batch.events;
      this.counts.flushed += batch.events;
      this.journal?.remove(batch.seq);
    }
  }

  /** Writes one batch; throws when some of it may not be stored. */
  private async apply(batch: Batch): Promise<void> {
    const mark = `flushed.${this.stream}`;
    // Only a batch that may be partly stored pays for the extra filter (which FerretDB cannot answer from the _id index alone).
    const guard = batch.guarded ? { [mark]: { $not: { $gte: batch.seq } } } : {};
    const linkOps: mongo.AnyBulkWriteOperation[] = [...batch.linkClicks].map(([id, { clicks, botClicks }]) => ({
      updateOne: { filter: { _id: new Types.ObjectId(id), ...guard }, update: { $inc: { clicks, botClicks }, $max: { [mark]: batch.seq } } },
    }));
    for (const chunk of chunked(linkOps)) await Link.collection.bulkWrite(chunk, { ordered: false });

    const days = [...batch.buckets.values()];
    if (batch.guarded) {
      // A guarded update cannot upsert (a document that has the batch would be inserted again): create missing days first.
      const creates: mongo.AnyBulkWriteOperation<DayDocument>[] = days
        .filter((d) => !this.knownDays.get(d._id))
        .map((d) => ({ updateOne: { filter: { _id: d._id }, update: { $setOnInsert: dayFields(d) }, upsert: true } }));
      await this.writeDays(creates);
    }
    await this.writeDays(
      days.map((d): mongo.AnyBulkWriteOperation<DayDocument> => ({
        updateOne: {
          filter: { _id: d._id, ...guard },
          update: { $inc: dayIncrements(d), $max: { [mark]: batch.seq }, ...(batch.guarded ? {} : { $setOnInsert: dayFields(d) }) },
          upsert: !batch.guarded,
        },
      })),
    );
    for (const d of days) this.knownDays.set(d._id, true);
  }

  private async writeDays(ops: mongo.AnyBulkWriteOperation<DayDocument>[]): Promise<void> {
    // The driver's collection: mongoose would drop the `flushed` marks, which the schema does not declare.
    const collection = ClickDay.collection as unknown as mongo.Collection<DayDocument>;
    for (const chunk of chunked(ops)) {
      try {
        await collection.bulkWrite(chunk, { ordered: false });
      } catch (error) {
        // Two instances upserting the same new day document: the loser gets 11000; its update is safe to redo.
        const failed = (error as { writeErrors?: { index: number; code: number }[] }).writeErrors ?? [];
        if (failed.length === 0 || failed.some((e) => e.code !== 11000)) throw error;
        await collection.bulkWrite(
          failed.map((e) => chunk[e.index]!),
          { ordered: false },
        );
      }
    }
  }
}

type DayDocument = { _id: string; [field: string]: any };

function dayIncrements(d: PendingDay): Record<string, number> {
  const $inc: Record<string, number> = {};
  if (d.clicks) $inc.clicks = d.clicks;
  if (d.botClicks) $inc.botClicks = d.botClicks;
  for (const [field, counts] of Object.entries(d.counts)) {
    for (const [value, clicks] of counts) $inc[`${field}.${encodeCounterKey(value)}`] = clicks;
  }
  return $inc;
}

function dayFields(d: PendingDay): Record<string, unknown> {
  return d.linkId ? { workspaceId: d.workspaceId, linkId: d.linkId, day: d.day } : { workspaceId: d.workspaceId, day: d.day };
}

const OBJECT_ID = /^[0-9a-f]{24}$/;

/** A journal line back into a click, or null for a line a power loss tore. */
function parseLine(line: string): (ClickFacts & { link: { _id: Types.ObjectId; workspaceId: Types.ObjectId } }) | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 7 || !parsed.every((v) => typeof v === 'string' || typeof v === 'number')) return null;
  const [linkId, workspaceId, day, bot, referrerHost, device, browser] = parsed as JournalLine;
  if (!OBJECT_ID.test(String(linkId)) || !OBJECT_ID.test(String(workspaceId))) return null;
  return {
    link: { _id: new Types.ObjectId(linkId), workspaceId: new Types.ObjectId(workspaceId) },
    day: String(day),
    bot: bot === 1,
    referrerHost: String(referrerHost),
    device: String(device),
    browser: String(browser),
  };
}
