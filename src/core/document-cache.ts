import type { Types } from 'mongoose';
import type { ChangeKind } from '../models/change-log.ts';
import { LruCache } from '../rules/lru-cache.ts';

/** What is cached across requests: documents that change rarely and that many answers repeat. */
export type CachedKind = Exclude<ChangeKind, 'key'>;

interface Cached {
  _id: Types.ObjectId;
  workspaceId?: Types.ObjectId;
}

/**
 * Workspaces, projects, custom domains (also by hostname) and users, kept across requests so
 * that a page of links repeating them reads none. It holds documents as stored, whoever may see
 * them: the loaders decide visibility on every request, exactly as for a fresh read. An entry
 * lives `ttlMs` at most; a change made on this instance drops it at once, on another instance
 * through the change log (see models/change-log.ts).
 */
export class DocumentCache {
  private readonly docs: LruCache<string, Cached>;
  /** Hostname → domain id; resolved through `docs`, so dropping the domain drops it too. */
  private readonly hosts: LruCache<string, string>;
  /** Counts the changes heard: a read that began before one is not stored (it may predate it). */
  private generation = 0;

  constructor(maxEntries: number, ttlMs: number, now: () => number = Date.now) {
    this.docs = new LruCache(maxEntries, ttlMs, now);
    this.hosts = new LruCache(maxEntries, ttlMs, now);
  }

  get<T extends Cached>(kind: CachedKind, id: string): T | undefined {
    return this.docs.get(`${kind}:${id}`) as T | undefined;
  }

  /** The custom domain of `hostname`, if cached. */
  domainOf<T extends Cached & { hostname: string }>(hostname: string): T | undefined {
    const id = this.hosts.get(hostname);
    const domain = id === undefined ? undefined : this.get<T>('domain', id);
    return domain?.hostname === hostname ? domain : undefined;
  }

  /** Taken before reading the database; `store` then keeps what was read only if nothing changed meanwhile. */
  mark(): number {
    return this.generation;
  }

  store(since: number, kind: CachedKind, docs: readonly Cached[]): void {
    if (since !== this.generation) return;
    for (const doc of docs) {
      this.docs.set(`${kind}:${String(doc._id)}`, doc);
      if (kind === 'domain') this.hosts.set((doc as Cached & { hostname: string }).hostname, String(doc._id));
    }
  }

  /** Drops what changed; a workspace takes everything cached of it along. */
  forget(kind: ChangeKind, ref: string): void {
    if (kind === 'key') return;
    this.generation += 1;
    this.docs.delete(`${kind}:${ref}`);
    if (kind === 'workspace') this.docs.deleteWhere((_key, doc) => String(doc.workspaceId) === ref);
  }

  clear(): void {
    this.generation += 1;
    this.docs.clear();
    this.hosts.clear();
  }

  get size(): number {
    return this.docs.size;
  }
}
