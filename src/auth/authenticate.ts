import type { BlockList } from 'node:net';
import type { Types } from 'mongoose';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { ApiKeySecret, type ApiKeySecretDoc } from '../models/api-key-secret.ts';
import { changeHint, lastChange, readChange, type Change } from '../models/change-log.ts';
import { User, type UserDoc } from '../models/user.ts';
import type { ForbiddenReason } from '../errors.ts';
import { buildIpAllowList, ipAllowed } from '../rules/ip.ts';
import { hashApiKey, idleDeadline, isWellFormedApiKey } from '../rules/keys.ts';
import type { KeyGrant } from '../rules/permissions.ts';

/** The key a request is authenticated with, as resolvers see it. */
export interface AuthenticatedKey {
  id: string;
  userId: string;
  grant: KeyGrant;
  rateLimit: number | null;
  doc: ApiKeyDoc;
  /** The key's user, read with the key and cached with it (users are never changed through the API). */
  user?: UserDoc | null;
}

export interface AuthFailure {
  status: 401 | 403;
  code: 'UNAUTHENTICATED' | 'FORBIDDEN';
  /** Why a FORBIDDEN refused (`extensions.reason`). */
  reason?: ForbiddenReason;
  message: string;
  /**
   * A wrong credential was presented: counted by the failed-authentication throttle. Not for
   * GraphiQL's placeholder (nobody has pasted a key yet) nor an allowedIps refusal (the key is genuine).
   */
  failedAttempt: boolean;
  /** For the metrics: a bad or unknown credential, a key that was deactivated or rotated out, an expired one, an address outside allowedIps. */
  cause: 'invalid' | 'revoked' | 'expired' | 'ip';
}

/** What a request presents, before any lookup. */
export type Credential = { kind: 'anonymous' } | { kind: 'failure'; failure: AuthFailure } | { kind: 'hash'; hash: string };

export type AuthOutcome =
  | { kind: 'anonymous' }
  | { kind: 'key'; key: AuthenticatedKey }
  | { kind: 'failure'; failure: AuthFailure };

/** The longest a request waits for the change log to be read. */
const CHANGE_WAIT_MS = 1000;
/** Every this many reads that find no change, the log's head is read too (to step over a gap). */
const GAP_CHECK_EVERY = 25;

const COPY_HINT = 'check that the whole key, including the taapit_ prefix, was copied';

export const AUTH_MESSAGES = {
  missing:
    'Missing API key: send it as "Authorization: Bearer taapit_…" (create one with the createApiKey mutation or `taapit-api key create`).',
  wrongScheme: `Malformed Authorization header: expected "Bearer <key>"; ${COPY_HINT}.`,
  malformed: `Malformed API key: ${COPY_HINT}.`,
  placeholder: 'This is the placeholder key: replace taapit_... in the Authorization header with your API key.',
  unknown: 'Invalid API key: no such key exists (it may have been deleted); check the key or create a new one.',
} as const;

function unauthenticated(message: string, failedAttempt = true, cause: AuthFailure['cause'] = 'invalid'): { kind: 'failure'; failure: AuthFailure } {
  return { kind: 'failure', failure: { status: 401, code: 'UNAUTHENTICATED', message, failedAttempt, cause } };
}

interface CacheEntry {
  /** null caches "no such key" so that repeated junk with a valid checksum costs one query per TTL. */
  doc: ApiKeyDoc | null;
  /** What resolvers see, built once per lookup (with the key's user) rather than per request. */
  key: AuthenticatedKey | null;
  cachedAt: number;
  allowList: BlockList | null;
}

export interface KeyAuthenticatorOptions {
  pepper: string;
  cacheTtlMs: number;
  maxEntries: number;
  /**
   * How often to read the shared log of changes made by other instances (0: never, one
   * instance). Requests are decided with what was read at most twice this long ago.
   */
  changePollMs?: number;
  /** Hears the changes of the log that are not about keys (the documents cached across requests). */
  onChange?: (change: Change) => void;
  now?: () => number;
}

/**
 * Verifies Bearer keys: format and checksum first (no I/O), then an in-memory cache of
 * records by HMAC, then primary-key reads (the secret document by HMAC, the key by id, its user).
 * The decision (status, expiry, grace, IPs) is re-evaluated on every request from the cached
 * record, so only the record is ever stale.
 */
export class KeyAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly now: () => number;
  /** The next change number to read from the change log; null until located. */
  private nextChange: number | null = null;
  /** When the last successful read of the log started: the cache reflects every change before it. */
  private changesReadAt = 0;
  private readingChanges: Promise<void> | null = null;
  private emptyReads = 0;
  private changesFailedAt = 0;
  private suspectedGap: number | null = null;
  /**
   * When this instance last let each key with idleTimeoutDays in: its uses reach the key record
   * only with the next usage flush, and the cached record later still, so the idle check counts them from here.
   */
  private readonly lastAccepted = new Map<string, number>();

  constructor(private readonly options: KeyAuthenticatorOptions) {
    this.now = options.now ?? Date.now;
  }

  hash(key: string): string {
    return hashApiKey(key, this.options.pepper);
  }

  /**
   * The presented credential, read once per request: anonymous, a failure needing no lookup (wrong
   * scheme, placeholder, bad format or checksum), or the HMAC of a well-formed key.
   */
  credential(header: string | null): Credential {
    if (header === null || header.trim() === '') return { kind: 'anonymous' };
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match) return unauthenticated(AUTH_MESSAGES.wrongScheme);
    const key = match[1]!;
    if (key === 'taapit_...') return unauthenticated(AUTH_MESSAGES.placeholder, false);
    if (!isWellFormedApiKey(key)) return unauthenticated(AUTH_MESSAGES.malformed);
    return { kind: 'hash', hash: this.hash(key) };
  }

  async authenticate(header: string | Credential | null, clientIp: string | null): Promise<AuthOutcome> {
    const credential = typeof header === 'string' || header === null ? this.credential(header) : header;
    if (credential.kind !== 'hash') return credential;
    const reading = this.changesCheck();
    // Too long since the last read: wait for this one (a bounded wait: an unreachable database
    // leaves the cache as it is rather than holding every request).
    if (reading) await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, CHANGE_WAIT_MS).unref())]);
    const outcome = this.decide(await this.lookup(credential.hash), credential.hash, clientIp);
    if (outcome.kind === 'key' && outcome.key.doc.idleTimeoutDays != null) this.noteUse(outcome.key.id);
    return outcome;
  }

  private noteUse(keyId: string): void {
    this.lastAccepted.delete(keyId);
    // Bounded like the cache: the oldest use known here is dropped first (the record has it by then).
    if (this.lastAccepted.size >= this.options.maxEntries) {
      const oldest = this.lastAccepted.keys().next();
      if (!oldest.done) this.lastAccepted.delete(oldest.value);
    }
    this.lastAccepted.set(keyId, this.now());
  }

  /**
   * Starts a read of the change log when one is due; returns it when the cache may be too
   * stale to decide on without it. One read by `_id` per poll interval, more only when there
   * were changes.
   */
  private changesCheck(): Promise<void> | null {
    const pollMs = this.options.changePollMs ?? 0;
    // Without a cache every request reads the key itself.
    if (pollMs <= 0 || this.options.cacheTtlMs <= 0) return null;
    const started = this.now();
    const age = started - this.changesReadAt;
    if (age >= pollMs && !this.readingChanges) {
      this.readingChanges = this.readChanges(started)
        .catch(() => void (this.changesFailedAt = this.now()))
        .finally(() => (this.readingChanges = null));
    }
    // While the database does not answer, requests are decided from the cache without waiting.
    return age >= 2 * pollMs && started - this.changesFailedAt >= 2 * pollMs ? this.readingChanges : null;
  }

  private async readChanges(started: number): Promise<void> {
    // At the first read, every earlier change is already in what this instance reads from now on.
    this.nextChange ??= (await lastChange()) + 1;
    let change = await readChange(this.nextChange);
    // Now and then, when nothing is new: a later change means this number is missing (its writer
    // failed before the insert, or is just writing it). Still missing at the next check: a gap, stepped over.
    if (change === null && ++this.emptyReads % GAP_CHECK_EVERY === 0) {
      const later = (await changeHint()) > this.nextChange;
      if (later && this.suspectedGap === this.nextChange) {
        this.nextChange += 1;
        change = await readChange(this.nextChange);
      }
      this.suspectedGap = later ? this.nextChange : null;
    }
    for (; change !== null; change = await readChange(this.nextChange)) {
      if (change.kind === 'key') this.invalidate(change.ref);
      else this.options.onChange?.(change);
      this.nextChange += 1;
    }
    this.changesReadAt = started;
  }

  /**
   * True when the credential is a key this instance has already found and would accept now from
   * this address: answered from the cache alone (entries past their TTL included), never a query.
   */
  isKnownGood(credential: Credential, clientIp: string | null): boolean {
    if (credential.kind !== 'hash') return false;
    // Changes made elsewhere not read for too long: the full path waits for them.
    if (this.changesCheck()) return false;
    const entry = this.cache.get(credential.hash);
    return entry !== undefined && this.decide(entry, credential.hash, clientIp).kind === 'key';
  }

  private decide(entry: CacheEntry, hash: string, clientIp: string | null): AuthOutcome {
    const doc = entry.doc;
    if (!doc) return unauthenticated(AUTH_MESSAGES.unknown);

    const now = this.now();
    if (doc.secretHash !== hash) {
      const graceEnd = doc.previousSecretExpiresAt?.getTime() ?? 0;
      if (doc.previousSecretHash !== hash || graceEnd <= now) {
        return unauthenticated(
          'This API key was rotated and its grace period is over: use the new secret returned by rotateApiKey.',
          true,
          'revoked',
        );
      }
    }
    if (doc.status !== 'ACTIVE') {
      return unauthenticated(
        `This API key was deactivated${doc.deactivatedAt ? ` at ${doc.deactivatedAt.toISOString()}` : ''}: use an active key or create a new one.`,
        true,
        'revoked',
      );
    }
    if (doc.expiresAt && doc.expiresAt.getTime() <= now) {
      return unauthenticated(`This API key expired at ${doc.expiresAt.toISOString()}: create a new key.`, true, 'expired');
    }
    const idleUntil = idleDeadline(doc, this.lastAccepted.get(String(doc._id)));
    if (idleUntil !== null && idleUntil <= now) {
      return unauthenticated(
        `This API key was not used for ${doc.idleTimeoutDays} days (its idleTimeoutDays) and stopped working at ${new Date(idleUntil).toISOString()}: create a new key.`,
        true,
        'expired',
      );
    }
    if (entry.allowList && !(clientIp && ipAllowed(entry.allowList, clientIp))) {
      return {
        kind: 'failure',
        failure: {
          status: 403,
          code: 'FORBIDDEN',
          reason: 'IP_NOT_ALLOWED',
          failedAttempt: false,
          cause: 'ip',
          message: `This API key may not be used from ${clientIp ?? 'an unknown address'}: add the address to the key's allowedIps or call from an allowed network.`,
        },
      };
    }
    return { kind: 'key', key: entry.key ?? toAuthenticatedKey(doc) };
  }

  private async lookup(hash: string): Promise<CacheEntry> {
    const cached = this.cache.get(hash);
    if (cached && this.now() - cached.cachedAt < this.options.cacheTtlMs) return cached;
    // Primary-key reads only: the secret document by HMAC (all an unknown key costs), the key,
    // and its user, kept with it so that requests about the user cost nothing while it is cached.
    // decide() then checks the hash against the key record itself, so a stale secret document
    // cannot let anything in.
    const secret = await ApiKeySecret.findById(hash, { keyId: 1 }).lean<Pick<ApiKeySecretDoc, '_id' | 'keyId'>>().exec();
    const doc = secret ? await ApiKey.findById(secret.keyId).lean<ApiKeyDoc>().exec() : null;
    const user = doc ? await User.findById(doc.userId).lean<UserDoc>().exec() : null;
    const entry: CacheEntry = {
      doc,
      key: doc ? { ...toAuthenticatedKey(doc), user } : null,
      cachedAt: this.now(),
      allowList: doc && doc.allowedIps.length > 0 ? buildIpAllowList(doc.allowedIps) : null,
    };
    if (this.options.cacheTtlMs > 0) {
      this.cache.delete(hash);
      if (this.cache.size >= this.options.maxEntries) {
        // Map iteration order is insertion order: drop the oldest entry.
        const oldest = this.cache.keys().next();
        if (!oldest.done) this.cache.delete(oldest.value);
      }
      this.cache.set(hash, entry);
    }
    return entry;
  }

  /** Forget a key at once: on the instance that deactivates, rotates, updates or deletes it, and on the others through the change log. */
  invalidate(keyId: string | Types.ObjectId): void {
    const id = String(keyId);
    for (const [hash, entry] of this.cache) {
      if (entry.doc && String(entry.doc._id) === id) this.cache.delete(hash);
    }
  }


  get size(): number {
    return this.cache.size;
  }
}

export function toAuthenticatedKey(doc: ApiKeyDoc): AuthenticatedKey {
  return {
    id: String(doc._id),
    userId: String(doc.userId),
    rateLimit: doc.rateLimit ?? null,
    doc,
    grant: {
      permission: doc.permission,
      scopes: doc.scopes,
      workspaces: doc.workspaces.map(String),
      expiresAt: doc.expiresAt ?? null,
    },
  };
}
