import { Domain, type DomainDoc } from '../models/domain.ts';
import { Link, type LinkDoc } from '../models/link.ts';

export interface CachedLink {
  link: LinkDoc | null;
  /** The click recorder's flushed mark when the document was read (see ClickRecorder.unseenSince). */
  clickMark: number;
  cachedAt: number;
}

const MAX_ENTRIES = 50_000;

/**
 * Redirect lookups by host and slug, and of custom domains by host. Entries live for `ttlMs`; the
 * instance that changes or deletes a link or domain drops its entries at once, other instances
 * see the change within the TTL.
 */
export class LinkCache {
  private entries = new Map<string, CachedLink>();
  private domains = new Map<string, { domain: DomainDoc | null; cachedAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly clickMark: (linkId: string) => number,
    private readonly now: () => number = Date.now,
  ) {}

  async find(host: string, slug: string): Promise<CachedLink> {
    const key = `${host}/${slug}`;
    const cached = this.entries.get(key);
    if (cached && this.now() - cached.cachedAt < this.ttlMs) return cached;
    const link = await Link.findOne({ domain: host, slug }).lean<LinkDoc>().exec();
    const entry: CachedLink = { link, clickMark: link ? this.clickMark(String(link._id)) : 0, cachedAt: this.now() };
    if (this.ttlMs > 0) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** The custom domain registered for `host`, or null. */
  async findDomain(host: string): Promise<DomainDoc | null> {
    const cached = this.domains.get(host);
    if (cached && this.now() - cached.cachedAt < this.ttlMs) return cached.domain;
    const domain = await Domain.findOne({ hostname: host }).lean<DomainDoc>().exec();
    if (this.ttlMs > 0) {
      if (this.domains.size >= MAX_ENTRIES) this.domains.clear();
      this.domains.set(host, { domain, cachedAt: this.now() });
    }
    return domain;
  }

  invalidate(host: string, slug: string): void {
    this.entries.delete(`${host}/${slug}`);
  }

  /** Drops every entry of a domain (domain deleted or its notFoundUrl changed). */
  invalidateHost(host: string): void {
    this.domains.delete(host);
    for (const key of this.entries.keys()) if (key.startsWith(`${host}/`)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.domains.clear();
  }
}
