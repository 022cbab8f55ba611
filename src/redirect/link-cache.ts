import { findDomainByHost, type DomainDoc } from '../models/domain.ts';
import { Link, type LinkDoc } from '../models/link.ts';
import { Slug, slugId, type SlugDoc } from '../models/slug.ts';
import { LruCache } from '../rules/lru-cache.ts';

export interface CachedLink {
  link: LinkDoc | null;
}

/** Hot links stay cached however many others are looked up (least recently used ones go first). */
const MAX_ENTRIES = 50_000;

/**
 * Redirect lookups by host and slug, and of custom domains by host. Entries live for `ttlMs`; the
 * instance that changes or deletes a link or domain drops its entries at once, other instances
 * see the change within the TTL.
 */
export class LinkCache {
  private readonly entries: LruCache<string, CachedLink>;
  private readonly domains: LruCache<string, DomainDoc | null>;

  constructor(
    ttlMs: number,
    now: () => number = Date.now,
    maxEntries = MAX_ENTRIES,
  ) {
    this.entries = new LruCache(maxEntries, ttlMs, now);
    this.domains = new LruCache(maxEntries, ttlMs, now);
  }

  async find(host: string, slug: string): Promise<CachedLink> {
    const key = slugId(host, slug);
    const cached = this.entries.get(key);
    if (cached) return cached;
    // Two primary-key reads: the slug document, then its link, which must still be on this slug
    // (a stale or orphaned slug document reads as no link).
    const held = await Slug.findById(key, { linkId: 1 }).lean<Pick<SlugDoc, 'linkId'>>().exec();
    let link = held ? await Link.findById(held.linkId).lean<LinkDoc>().exec() : null;
    if (link && (link.domain !== host || link.slug !== slug)) link = null;
    const entry: CachedLink = { link };
    this.entries.set(key, entry);
    return entry;
  }

  /** The cached entry without reading the database: undefined when not cached (or past its TTL). */
  peek(host: string, slug: string): CachedLink | undefined {
    return this.entries.get(slugId(host, slug));
  }

  /** The cached custom domain of `host` (null: none registered); undefined when not cached. */
  peekDomain(host: string): DomainDoc | null | undefined {
    return this.domains.get(host);
  }

  /** The custom domain registered for `host`, or null (two primary-key reads when not cached). */
  async findDomain(host: string): Promise<DomainDoc | null> {
    const cached = this.domains.get(host);
    if (cached !== undefined) return cached;
    const domain = await findDomainByHost(host);
    this.domains.set(host, domain);
    return domain;
  }

  invalidate(host: string, slug: string): void {
    this.entries.delete(`${host}/${slug}`);
  }

  /** Drops every entry of a domain (domain deleted or its notFoundUrl changed). */
  invalidateHost(host: string): void {
    this.domains.delete(host);
    this.entries.deleteWhere((key) => key.startsWith(`${host}/`));
  }

  clear(): void {
    this.entries.clear();
    this.domains.clear();
  }
}
