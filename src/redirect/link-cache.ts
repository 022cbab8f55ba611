import { Link, type LinkDoc } from '../models/link.ts';

export interface CachedLink {
  link: LinkDoc | null;
  /** The click recorder's flushed mark when the document was read (see ClickRecorder.unseenSince). */
  clickMark: number;
  cachedAt: number;
}

const MAX_ENTRIES = 50_000;

/**
 * Redirect lookups by host and slug. Entries live for `ttlMs`; the instance that changes or
 * deletes a link drops its entry at once, other instances see the change within the TTL.
 */
export class LinkCache {
  private entries = new Map<string, CachedLink>();

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

  invalidate(host: string, slug: string): void {
    this.entries.delete(`${host}/${slug}`);
  }

  /** Drops every entry of a domain (domain deleted or its notFoundUrl changed). */
  invalidateHost(host: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(`${host}/`)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
