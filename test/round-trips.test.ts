import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import { commandsDuring, createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, started } = useTestDatabase();
let t: TestApp;
let key: string;
let workspaceId: string;

beforeAll(async () => {
  t = createTestApp(db());
  const users = [await makeUser('a'), await makeUser('b'), await makeUser('c')];
  const workspace = await makeWorkspace(users[0]!, 'w', [[users[1]!, 'MEMBER'], [users[2]!, 'MEMBER']]);
  workspaceId = gid('Workspace', workspace._id);
  key = (await makeKey(users[0]!)).secret;
  const projects = await Project.insertMany(Array.from({ length: 5 }, (_, i) => ({ workspaceId: workspace._id, name: `p${i}` })));
  const domains = await Domain.insertMany(Array.from({ length: 3 }, (_, i) => ({ workspaceId: workspace._id, hostname: `d${i}.rt.example`, verified: true, verificationToken: 'x' })));
  await Link.insertMany(
    Array.from({ length: 60 }, (_, i) => ({
      workspaceId: workspace._id,
      domain: domains[i % 3]!.hostname,
      slug: `s${i}`,
      url: 'https://example.com/',
      projectId: projects[i % 5]!._id,
      createdByUserId: users[i % 3]!._id,
    })),
  );
});
afterAll(() => t.close());

const QUERY = 'query($w: ID, $n: Int) { links(workspaceId: $w, first: $n) { totalCount edges { node { slug project { name } domain { hostname } createdBy { email } workspace { name } } } } }';

describe('database round trips', () => {
  it('links(first: 50) with project, domain, creator and workspace costs the same few queries as links(first: 5), related documents not cached', async () => {
    await gql(t.app, '{ viewer { key { id } } }', {}, { key }); // warm the key cache
    const run = (n: number) =>
      commandsDuring(started, async () => {
        t.services.documents.clear(); // related documents not cached yet: the batching is what is measured
        const result = await gql(t.app, QUERY, { w: workspaceId, n }, { key });
        expect(result.body.errors).toBeUndefined();
        expect(result.body.data.links.edges).toHaveLength(n);
      });
    const five = await run(5);
    const fifty = await run(50);
    console.log(`[round-trips] links(first: 5): ${five.length}; links(first: 50): ${fifty.length} (${fifty.map((c) => c.command.find ?? c.commandName).join(', ')})`);
    expect(fifty.length).toBe(five.length);
    if (db().kind === 'mongodb') {
      // One $in per related collection.
      expect(fifty.length).toBeLessThanOrEqual(7);
    } else {
      // The embedded database scans for $in: every related document is its own read by _id
      // (3 domains through the hostname registry, 5 projects, 2 creators besides the cached viewer, the workspace).
      const reads = fifty.filter((c) => !['links', 'counters'].includes(c.command.find));
      const byExactId = (c: (typeof reads)[number]) =>
        c.commandName === 'find' && Object.keys(c.command.filter).join() === '_id' && !(typeof c.command.filter._id === 'object' && '$in' in c.command.filter._id);
      expect(reads.filter((c) => !byExactId(c)).map((c) => c.command)).toEqual([]);
      expect(fifty.length).toBeLessThanOrEqual(2 + 3 * 2 + 5 + 2 + 1 + 1);
    }
  });
  it('links(workspaceId, first: N) with totalCount and related ids: the same commands for N = 5 and N = 50, totalCount from its counter', async () => {
    await gql(t.app, '{ viewer { key { id } } }', {}, { key }); // warm the key cache
    const query = 'query($w: ID, $n: Int) { links(workspaceId: $w, first: $n) { totalCount edges { node { domain { id } project { id } createdBy { id } } } } }';
    const run = (n: number) =>
      commandsDuring(started, async () => {
        t.services.documents.clear();
        const result = await gql(t.app, query, { w: workspaceId, n }, { key });
        expect(result.body.errors).toBeUndefined();
        expect(result.body.data.links).toMatchObject({ totalCount: 60 });
        expect(result.body.data.links.edges).toHaveLength(n);
      });
    const five = await run(5);
    const fifty = await run(50);
    const names = (sent: typeof five) => sent.map((c) => `${c.commandName} ${c.command.find ?? c.command.aggregate ?? c.command.count ?? ''}`.trim());
    console.log(`[round-trips] links(first: N) { totalCount edges { node { domain project createdBy } } }: N=5 ${five.length} (${names(five).join(', ')}); N=50 ${fifty.length}`);
    expect(names(fifty)).toEqual(names(five));
    // totalCount is the workspace's counter, read by _id; nothing counts the links.
    expect(fifty.filter((c) => c.command.find === 'counters').map((c) => c.command.filter)).toEqual([{ _id: `links:${Buffer.from(workspaceId, 'base64').toString().split(':')[1]}` }]);
    expect(names(fifty)).not.toContain('aggregate links');
  });
  it('one object by id is one find with an exact { _id } filter (the embedded database answers it from its index)', async () => {
    await gql(t.app, '{ viewer { key { id } } }', {}, { key }); // warm the key cache
    const link = await Link.findOne({ slug: 's7' }).lean().exec();
    const before = started.length;
    const result = await gql(t.app, 'query($id: ID!) { link(id: $id) { slug } }', { id: gid('Link', link!._id) }, { key });
    expect(result.body.data.link).toEqual({ slug: 's7' });
    const finds = started.slice(before).filter((c) => c.commandName === 'find' && c.command.find === 'links');
    expect(finds.map((c) => Object.keys(c.command.filter))).toEqual([['_id']]);
    expect(finds[0]!.command.filter._id).not.toHaveProperty('$in');
  });
  it.each([
    ['one read by _id per document (the embedded database)', 'ferretdb'],
    ['one $in per collection (MongoDB)', 'mongodb'],
  ] as const)('links(first: N) with domain, project, createdBy and totalCount: at most 3 commands once its documents are cached, whatever N (%s)', async (_label, kind) => {
    // The loaders choose point reads or $in by the database kind: this runs both paths on the test database.
    const app = kind === db().kind ? t : createTestApp({ ...db(), kind }, { KEY_CACHE_TTL_MS: '60000' });
    try {
      const query = 'query($w: ID, $n: Int) { links(workspaceId: $w, first: $n) { totalCount edges { node { domain { hostname } project { name } createdBy { email } } } } }';
      const run = (n: number) =>
        commandsDuring(started, async () => {
          const result = await gql(app.app, query, { w: workspaceId, n }, { key });
          expect(result.body.errors).toBeUndefined();
          expect(result.body.data.links.edges).toHaveLength(n);
          expect(result.body.data.links.edges.every((e: any) => e.node.domain.hostname && e.node.project.name && e.node.createdBy.email)).toBe(true);
        });
      for (const n of [5, 50]) {
        await run(n); // first: reads the related documents
        const second = await run(n);
        const names = second.map((c) => `${c.commandName} ${c.command.find ?? ''}`.trim());
        console.log(`[round-trips] ${kind} links(first: ${n}) second request: ${second.length} (${names.join(', ')})`);
        // The roles (by _id), the counter (by _id), the page; no read of a domain, project or user.
        expect(names.sort()).toEqual(['find counters', 'find links', 'find userroles']);
      }
    } finally {
      if (app !== t) await app.close();
    }
  });
  it('viewer with its user and key reads nothing once the key is cached: the user is cached with the key', async () => {
    const owner = await makeUser('viewer');
    const fresh = (await makeKey(owner)).secret;
    const VIEWER = '{ viewer { key { name permission } user { email } permissions { resource access } rateLimit { limit } } }';
    const shape = (sent: { commandName: string; command: Record<string, any> }[]) =>
      sent.map((c) => [c.commandName, Object.keys(c.command.filter ?? {}), typeof c.command.filter?._id]);
    // First use: the secret document, the key and its user, each by primary key; no membership query.
    const first = await commandsDuring(started, async () => {
      const result = await gql(t.app, VIEWER, {}, { key: fresh });
      expect(result.body.data.viewer.user.email).toBe(owner.email);
    });
    expect(shape(first)).toEqual([
      ['find', ['_id'], 'string'],
      ['find', ['_id'], 'object'],
      ['find', ['_id'], 'object'],
    ]);
    const second = await commandsDuring(started, async () => {
      const result = await gql(t.app, VIEWER, {}, { key: fresh });
      expect(result.body.data.viewer.user.email).toBe(owner.email);
    });
    expect(second).toEqual([]);
  });
});
