import { Types, type AnyBulkWriteOperation, type QueryFilter } from 'mongoose';
import type { Logger } from 'pino';
import { AuditEvent, KnownKeyAddress, type AuditEventDoc, type FieldChange, type KnownKeyAddressDoc } from '../models/audit-event.ts';
import { PeriodicFlusher } from '../periodic-flusher.ts';
import { atLeast, effectiveAccess } from '../rules/permissions.ts';
import { LruCache } from '../rules/lru-cache.ts';
import type { Actor, RequestOrigin } from './actor.ts';
import { listing, newestFirst, type Listing } from './listing.ts';

export type { AuditEventDoc, FieldChange } from '../models/audit-event.ts';

/** What an event is about. `type` is the GraphQL type name, so the API can answer a global id. */
export interface AuditTarget {
  type: 'ApiKey' | 'Link' | 'Project' | 'Domain' | 'Workspace' | 'WorkspaceInvitation' | 'User';
  id: Types.ObjectId | string;
}

export interface AuditInput {
  action: string;
  target: AuditTarget;
  /** Null for events of a user's own keys. */
  workspaceId?: Types.ObjectId | string | null;
  /** For key events: the key's owner, who may read them. */
  subjectUserId?: Types.ObjectId | string | null;
  changes?: Record<string, FieldChange> | null;
}

/** Field names never recorded, whatever a caller passes: the log must hold no secret and no hash. */
const SECRET_FIELD = /secret|hash|token|pepper|password/i;

/** A value as stored in `changes`: ids as hex, dates as ISO text, secret-named fields dropped. */
function plain(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof Types.ObjectId) return value.toHexString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([name]) => !SECRET_FIELD.test(name)).map(([name, v]) => [name, plain(v)]));
  }
  return value;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The fields of `after` that differ from `before`, as before/after pairs: for an update pass the
 * document as it was and the `$set`; for a creation `before` is null (only `after` is kept);
 * for a deletion `after` is null. Secret-named fields never appear.
 */
export function changesOf(before: object | null, after: object | null, fields?: readonly string[]): Record<string, FieldChange> {
  const was = (before ?? {}) as Record<string, unknown>;
  const now = (after ?? {}) as Record<string, unknown>;
  const names = fields ?? Object.keys(after ?? before ?? {});
  const changes: Record<string, FieldChange> = {};
  for (const name of names) {
    if (SECRET_FIELD.test(name) || name === '_id') continue;
    const b = plain(was[name]);
    const a = plain(now[name]);
    if (before && after && same(a, b)) continue;
    changes[name] = { ...(before ? { before: b } : {}), ...(after ? { after: a } : {}) };
  }
  return changes;
}

const oid = (id: Types.ObjectId | string | null | undefined) => (id ? new Types.ObjectId(String(id)) : null);

/** An event of `input` done by `actor` (null: the server itself, e.g. a leak report), now. */
export function auditEvent(actor: Pick<Actor, 'key' | 'userId' | 'origin'> | null, input: AuditInput, at = new Date()): AuditEventDoc {
  const origin: Partial<RequestOrigin> = actor?.origin ?? {};
  return {
    // An ObjectId generated for the event's time (in seconds): ids sort by time.
    _id: new Types.ObjectId(Types.ObjectId.generate(Math.floor(at.getTime() / 1000))),
    action: input.action,
    actorUserId: oid(actor?.key?.userId ?? actor?.userId),
    actorKeyId: oid(actor?.key?.id),
    targetType: input.target.type,
    targetId: String(input.target.id),
    workspaceId: oid(input.workspaceId),
    subjectUserId: oid(input.subjectUserId),
    ip: origin.ip ?? null,
    userAgent: origin.userAgent ? origin.userAgent.slice(0, 512) : null,
    requestId: origin.requestId ?? null,
    createdAt: at,
    changes: input.changes && Object.keys(input.changes).length > 0 ? (plain(input.changes) as Record<string, FieldChange>) : null,
  };
}

/**
 * Records a write, inside the write path: one insert after the write it reports, awaited, so the
 * event is stored before the client hears of success. If that insert fails the write stands (it
 * is done) and the event goes to the recorder, which retries it with the same `_id`.
 */
export async function audit(actor: Actor, input: AuditInput): Promise<void> {
  const event = auditEvent(actor, input);
  try {
    await AuditEvent.collection.insertOne(event);
  } catch (error) {
    actor.services.audit.record(event, error);
  }
}

/**
 * Records an event the server itself caused (a leak report, a job): no key, no request origin
 * unless given. Inserted at once; on failure queued for the next flush.
 */
export async function auditSystem(services: { audit: AuditRecorder }, input: AuditInput, origin: RequestOrigin | null = null): Promise<void> {
  const event = auditEvent(origin ? { key: null, userId: null, origin } : null, input);
  try {
    await AuditEvent.collection.insertOne(event);
  } catch (error) {
    services.audit.record(event, error);
  }
}

/**
 * For checks on the read path (a key refused by a workspace's key policy): queued, written by the
 * next flush, so the refused request waits on no write. `policy` names the rule that refused.
 */
export function auditPolicyRefusal(actor: Pick<Actor, 'key' | 'userId' | 'origin' | 'services'>, workspaceId: Types.ObjectId | string, policy: string): void {
  const key = actor.key;
  if (!key) return;
  actor.services.audit.record(
    auditEvent(actor, {
      action: 'apiKey.refusedByPolicy',
      target: { type: 'ApiKey', id: key.id },
      workspaceId,
      subjectUserId: key.userId,
      changes: { policy: { after: policy } },
    }),
  );
}

/** Duplicate key: an event already stored (a retried insert). */
const isDuplicate = (error: unknown) => (error as { code?: number }).code === 11000;

/** Events and (key, address) pairs collected at most; past it the oldest are dropped (and logged). */
const MAX_PENDING = 100_000;
/** (key, address) pairs this instance remembers as seen, so that a known pair costs no write at all. */
const KNOWN_ADDRESSES = 100_000;
const KNOWN_ADDRESS_TTL_MS = 24 * 3_600_000;
/**
 * Retention is counted in days, so one purge a day suffices (the first at the first flush). On
 * MongoDB it reads only the expired range of the `_id` index; on the embedded FerretDB, whose
 * SQLite backend pushes down only `_id` equality, it scans the collection once.
 */
const PURGE_EVERY_MS = 24 * 3_600_000;

/**
 * Audit events noticed on the read path (a key's first use from a new address, a policy refusal),
 * written in one batch per interval so that reads never wait on them; and the retries of events
 * the write path could not insert. Once a day a flush also purges the expired events.
 */
export class AuditRecorder extends PeriodicFlusher {
  private pending: AuditEventDoc[] = [];
  /** Pairs seen here for the first time: whether they are new anywhere is decided at the flush. */
  private candidates = new Map<string, AuditEventDoc>();
  private readonly seen = new LruCache<string, true>(KNOWN_ADDRESSES, KNOWN_ADDRESS_TTL_MS);
  private lastPurge = 0;
  /** Only a started recorder (a server's) purges: the CLI's final flush must not scan the log. */
  private purges = false;

  constructor(
    intervalMs: number,
    private readonly logger: Logger,
    private readonly retentionDays: number,
  ) {
    super(intervalMs);
  }

  override start(): void {
    this.purges = true;
    super.start();
  }

  /** Queues an event for the next flush (`error`: why the write path could not insert it). */
  record(event: AuditEventDoc, error?: unknown): void {
    if (error) this.logger.warn({ err: error, action: event.action }, 'audit insert failed; the next flush retries it');
    this.pending.push(event);
    if (this.pending.length > MAX_PENDING) {
      this.pending.shift();
      this.logger.error('audit buffer full: dropped the oldest event');
    }
  }

  /**
   * A request authenticated by a key from `origin.ip`: costs one map lookup when this instance
   * has seen the pair; otherwise the flush inserts the pair and, when it was new anywhere,
   * records `apiKey.firstUseFromNewIp`.
   */
  noteKeyUse(actor: Pick<Actor, 'key' | 'userId' | 'origin'>): void {
    const key = actor.key;
    const ip = actor.origin?.ip;
    if (!key || !ip) return;
    const pair = `${key.id}/${ip}`;
    if (this.seen.get(pair)) return;
    this.seen.set(pair, true);
    if (this.candidates.size >= MAX_PENDING) return;
    this.candidates.set(
      pair,
      auditEvent(actor, { action: 'apiKey.firstUseFromNewIp', target: { type: 'ApiKey', id: key.id }, subjectUserId: key.userId, changes: { ip: { after: ip } } }),
    );
  }

  protected async writePending(): Promise<void> {
    await this.settleCandidates();
    await this.insertPending();
    if (this.purges && Date.now() - this.lastPurge >= PURGE_EVERY_MS) {
      this.lastPurge = Date.now();
      try {
        const deleted = await purgeAuditEvents(this.retentionDays);
        if (deleted > 0) this.logger.info({ deleted }, 'purged expired audit events');
      } catch (error) {
        this.lastPurge = 0;
        this.logger.warn({ err: error }, 'audit purge failed; will retry');
      }
    }
  }

  /** Upserts the candidate pairs: those the upsert created were new, and their events are queued. */
  private async settleCandidates(): Promise<void> {
    if (this.candidates.size === 0) return;
    const batch = [...this.candidates];
    this.candidates = new Map();
    const ops: AnyBulkWriteOperation<KnownKeyAddressDoc>[] = batch.map(([pair, event]) => ({
      updateOne: { filter: { _id: pair }, update: { $setOnInsert: { at: event.createdAt } }, upsert: true },
    }));
    try {
      for (let start = 0; start < ops.length; start += 50) {
        const result = await KnownKeyAddress.bulkWrite(ops.slice(start, start + 50), { ordered: false });
        for (const index of Object.keys(result.upsertedIds ?? {})) this.pending.push(batch[start + Number(index)]![1]);
      }
    } catch (error) {
      this.failed = true;
      // Seen again from scratch next time: the pairs not settled are asked about again.
      for (const [pair] of batch) this.seen.delete(pair);
      this.logger.warn({ err: error }, 'known key addresses could not be written; will retry');
    }
  }

  private async insertPending(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      for (let start = 0; start < batch.length; start += 500) {
        await AuditEvent.collection.insertMany(batch.slice(start, start + 500), { ordered: false }).catch((error: { writeErrors?: unknown[] }) => {
          // An event inserted by an earlier attempt is a duplicate key now: it is stored, fine.
          const errors = error.writeErrors;
          if (!Array.isArray(errors) || errors.length === 0 || !errors.every(isDuplicate)) throw error;
        });
      }
    } catch (error) {
      this.failed = true;
      this.pending = [...batch, ...this.pending].slice(-MAX_PENDING);
      this.logger.warn({ err: error, events: batch.length }, 'audit flush failed; will retry');
    }
  }
}

/**
 * Deletes the events older than `retentionDays`: one range delete on `_id`, whose ObjectId
 * starts with its creation time in seconds (an index range on MongoDB; a scan on the embedded
 * FerretDB). Returns how many went.
 */
export async function purgeAuditEvents(retentionDays: number, now = new Date()): Promise<number> {
  const cutoff = Types.ObjectId.createFromTime(Math.floor((now.getTime() - retentionDays * 86_400_000) / 1000));
  const { deletedCount } = await AuditEvent.deleteMany({ _id: { $lt: cutoff } }).exec();
  return deletedCount;
}

export interface AuditFilter {
  /** A workspace's events (audit_log:read, OWNER); null: the actor's own key events. */
  workspaceId: Types.ObjectId | null;
  /** Only events done with this key or about it. */
  keyId: Types.ObjectId | null;
  action: string | null;
  from: Date | null;
  to: Date | null;
}

/**
 * The events the actor may read, newest first: a workspace's (null when the actor may not see
 * that workspace: the same answer as for one that does not exist), or, without a workspace, the
 * events about the keys of the actor's user.
 */
export async function listAuditEvents(actor: Actor, filter: AuditFilter): Promise<Listing<AuditEventDoc> | null> {
  const conditions: QueryFilter<AuditEventDoc>[] = [];
  if (filter.workspaceId) {
    const workspaceId = String(filter.workspaceId);
    const visible = await actor.loaders.visibleWorkspaces();
    const role = (await actor.memberships()).get(workspaceId) ?? null;
    if (!visible.has(workspaceId)) return null;
    if (actor.key && !atLeast(effectiveAccess(actor.key.grant, 'AUDIT_LOG', workspaceId, role), 'READ')) return null;
    conditions.push({ workspaceId: filter.workspaceId });
  } else {
    const userId = actor.key?.userId ?? actor.userId;
    if (!userId) return null;
    conditions.push({ subjectUserId: new Types.ObjectId(userId) });
  }
  if (filter.keyId) conditions.push({ $or: [{ actorKeyId: filter.keyId }, { targetType: 'ApiKey', targetId: filter.keyId.toHexString() }] });
  if (filter.action) conditions.push({ action: filter.action });
  if (filter.from) conditions.push({ createdAt: { $gte: filter.from } });
  if (filter.to) conditions.push({ createdAt: { $lt: filter.to } });
  return listing(AuditEvent, conditions.length === 1 ? conditions[0]! : { $and: conditions }, newestFirst('auditEvent'));
}
