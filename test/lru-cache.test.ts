import fc from 'fast-check';
import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import { Slug, slugId } from '../src/models/slug.ts';
import { DocumentCache } from '../src/core/document-cache.ts';
import { LinkCache } from '../src/redirect/link-cache.ts';
import { LruCache } from '../src/rules/lru-cache.ts';
import { countQueries, useTestDatabase } from './helpers.ts';

const { commands } = useTestDatabase();

describe('LruCache', () => {
  it('evicts the least recently used entry, not everything, when full', () => {
    const cache = new LruCache<string, number>(3, 60_000);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect(cache.get('a')).toBe(1); // a is now the newest
    cache.set('d', 4);
    expect([cache.get('a'), cache.get('b'), cache.get('c'), cache.get('d')]).toEqual([1, undefined, 3, 4]);
  });

  it('forgets entries older than the TTL, and stores nothing with a TTL of 0', () => {
    let now = 0;
    const cache = new LruCache<string, number>(10, 1000, () => now);
    cache.set('a', 1);
    now = 999;
    expect(cache.get('a')).toBe(1);
    now = 1000;
    expect(cache.get('a')).toBeUndefined();
    const off = new LruCache<string, number>(10, 0);
    off.set('a', 1);
    expect(off.get('a')).toBeUndefined();
  });

  it('never holds more than its bound, and the last key set is always there', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 30 })), { maxLength: 200 }), (max, ops) => {
        const cache = new LruCache<number, number>(max, 60_000);
        for (const [write, key] of ops) {
          if (write) {
            cache.set(key, key);
            expect(cache.get(key)).toBe(key);
          } else cache.get(key);
          expect(cache.size).toBeLessThanOrEqual(max);
        }
      }),
    );
  });
});

describe('LinkCache', () => {
  it('a hot link stays cached while many others are looked up (no clear-all at the bound)', async () => {
    const workspaceId = new Types.ObjectId();
    const link = await Link.create({ workspaceId, domain: 'lru.test', slug: 'hot', url: 'https://example.com/', createdByUserId: new Types.ObjectId() });
    await Slug.create({ _id: slugId('lru.test', 'hot'), linkId: link._id, workspaceId });
    const cache = new LinkCache(60_000, Date.now, 3);
    expect((await cache.find('lru.test', 'hot')).link?.slug).toBe('hot');
    for (const slug of ['m1', 'm2', 'm3', 'm4', 'm5']) {
      await cache.find('lru.test', slug);
      await cache.find('lru.test', 'hot'); // used between misses: stays among the newest
    }
    const again = await countQueries(commands, () => cache.find('lru.test', 'hot'));
    expect(again.count).toBe(0);
  });
});

describe('DocumentCache', () => {
  const doc = (workspaceId: Types.ObjectId, extra: object = {}) => ({ _id: new Types.ObjectId(), workspaceId, ...extra });

  it('a read that began before a change is not stored (it may hold what the change replaced)', () => {
    const cache = new DocumentCache(10, 60_000);
    const project = doc(new Types.ObjectId(), { name: 'old' });
    const since = cache.mark();
    cache.forget('project', String(project._id)); // heard while the read was in flight
    cache.store(since, 'project', [project]);
    expect(cache.get('project', String(project._id))).toBeUndefined();
    cache.store(cache.mark(), 'project', [project]);
    expect(cache.get('project', String(project._id))).toBe(project);
  });

  it('a workspace change drops everything cached of that workspace, and a domain change its hostname too', () => {
    const cache = new DocumentCache(10, 60_000);
    const [w1, w2] = [new Types.ObjectId(), new Types.ObjectId()];
    const inW1 = doc(w1);
    const inW2 = doc(w2);
    const domain = doc(w1, { hostname: 'go.cached.example' });
    cache.store(cache.mark(), 'project', [inW1, inW2]);
    cache.store(cache.mark(), 'domain', [domain]);
    expect(cache.domainOf('go.cached.example')).toBe(domain);
    cache.forget('workspace', String(w1));
    expect(cache.get('project', String(inW1._id))).toBeUndefined();
    expect(cache.domainOf('go.cached.example')).toBeUndefined();
    expect(cache.get('project', String(inW2._id))).toBe(inW2);
    cache.store(cache.mark(), 'domain', [domain]);
    cache.forget('domain', String(domain._id));
    expect(cache.domainOf('go.cached.example')).toBeUndefined();
  });

  it('holds at most its bound, least recently used first out', () => {
    const cache = new DocumentCache(3, 60_000);
    const docs = Array.from({ length: 5 }, () => doc(new Types.ObjectId()));
    for (const d of docs) cache.store(cache.mark(), 'user', [d]);
    expect(cache.size).toBe(3);
    expect(cache.get('user', String(docs[0]!._id))).toBeUndefined();
    expect(cache.get('user', String(docs[4]!._id))).toBe(docs[4]);
  });
});
