import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Counter } from '../src/models/counter.ts';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import { recountLinkCounters } from '../src/db/recount.ts';
import { commandsDuring, createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, started } = useTestDatabase();
let t: TestApp;
let key: string;
let workspace: { _id: Types.ObjectId };
let userId: Types.ObjectId;
let alice: Awaited<ReturnType<typeof makeUser>>;

beforeAll(async () => {
  t = createTestApp(db(), { RATE_LIMIT_PER_MINUTE: '100000' });
  alice = await makeUser('alice');
  userId = alice._id;
  workspace = await makeWorkspace(alice, 'paging');
  key = (await makeKey(alice)).secret;
});
afterAll(() => t.close());

type Page = { edges: { cursor: string; node: { slug: string } }[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null } };

/** One page of `links(workspaceId)`; `args` as GraphQL arguments, e.g. `first: 3, after: $c`. */
async function page(args: string, cursor: string | null = null, workspaceId = workspace._id): Promise<Page> {
  const result = await gql(
    t.app,
    `query($w: ID${args.includes('$c') ? ', $c: String' : ''}) { links(workspaceId: $w, ${args}) { edges { cursor node { slug } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`,
    { w: gid('Workspace', workspaceId), ...(args.includes('$c') ? { c: cursor } : {}) },
    { key },
  );
  expect(result.body.errors, JSON.stringify(result.body.errors)).toBeUndefined();
  return result.body.data.links;
}

const slugs = (p: Page) => p.edges.map((edge) => edge.node.slug);

/** Links of a new workspace with the given creation times (ms), slugs `<prefix><i>`. */
async function linksAt(prefix: string, times: number[], extra: (i: number) => object = () => ({})) {
  const ws = await makeWorkspace(alice, prefix);
  const docs = await Link.insertMany(
    times.map((time, i) => ({
      workspaceId: ws._id,
      domain: 'tpt.test',
      slug: `${prefix}${i}`,
      url: 'https://example.com/',
      createdByUserId: userId,
      createdAt: new Date(time),
      updatedAt: new Date(time),
      ...extra(i),
    })),
    { timestamps: false } as object,
  );
  return { ws, docs };
}

describe('keyset cursors', () => {
  it('forward paging is stable while rows are inserted and deleted between pages: none skipped or repeated', async () => {
    const base = Date.UTC(2026, 0, 1);
    // Ties on createdAt (pairs) exercise the `_id` tie-break.
    const created: string[] = [];
    for (let i = 0; i < 10; i++) {
      const link = await Link.create({ workspaceId: workspace._id, domain: 'tpt.test', slug: `st${i}`, url: 'https://example.com/', createdByUserId: userId });
      await Link.updateOne({ _id: link._id }, { $set: { createdAt: new Date(base + Math.floor(i / 2) * 1000) } }, { timestamps: false });
      created.push(`st${i}`);
    }
    const seen: string[] = [];
    const deleted = new Set<string>();
    let cursor: string | null = null;
    for (let round = 0; round < 20; round++) {
      const p: Page = await page('first: 3, after: $c', cursor);
      seen.push(...slugs(p));
      if (!p.pageInfo.hasNextPage) break;
      cursor = p.pageInfo.endCursor;
      // Between pages, in turn: new links at the top (before the cursor: an offset would repeat
      // rows), or the row under the cursor, another seen row and the last unseen one deleted
      // (an offset would skip rows).
      const unseen = created.filter((s) => !seen.includes(s) && !deleted.has(s));
      const gone = round % 2 === 0 ? [] : [seen.at(-1)!, seen.at(-2)!, unseen.at(-1)];
      if (round % 2 === 0) {
        for (const i of [1, 2]) await Link.create({ workspaceId: workspace._id, domain: 'tpt.test', slug: `new${round}-${i}`, url: 'https://example.com/', createdByUserId: userId });
      }
      for (const slug of gone.filter((s): s is string => !!s && !deleted.has(s))) {
        await Link.deleteOne({ workspaceId: workspace._id, slug });
        deleted.add(slug);
      }
    }
    expect(new Set(seen).size, `no row twice: ${seen.join(' ')}`).toBe(seen.length);
    expect(seen.filter((s) => s.startsWith('new')), 'rows inserted before the cursor are not in later pages').toEqual([]);
    // Newest first, ties by id descending: every row that was never deleted, in that order.
    const expected = [...created].reverse().filter((s) => !deleted.has(s) || seen.includes(s));
    expect(seen).toEqual(expected);
    await Link.deleteMany({ workspaceId: workspace._id });
  });

  it('last/before pages backward; hasNextPage and hasPreviousPage are exact at both ends', async () => {
    const { ws } = await linksAt('bw', [1, 2, 3, 4, 5, 6, 7].map((n) => Date.UTC(2026, 1, n)));
    // Newest first: bw6 … bw0.
    const first = await page('first: 3', null, ws._id);
    expect(slugs(first)).toEqual(['bw6', 'bw5', 'bw4']);
    expect(first.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const second = await page('first: 3, after: $c', first.pageInfo.endCursor, ws._id);
    expect(slugs(second)).toEqual(['bw3', 'bw2', 'bw1']);
    expect(second.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const third = await page('first: 3, after: $c', second.pageInfo.endCursor, ws._id);
    expect(slugs(third)).toEqual(['bw0']);
    expect(third.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });

    const last = await page('last: 3', null, ws._id);
    expect(slugs(last)).toEqual(['bw2', 'bw1', 'bw0']);
    expect(last.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const before = await page('last: 3, before: $c', last.pageInfo.startCursor, ws._id);
    expect(slugs(before)).toEqual(['bw5', 'bw4', 'bw3']);
    expect(before.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const top = await page('last: 3, before: $c', before.pageInfo.startCursor, ws._id);
    expect(slugs(top)).toEqual(['bw6']);
    expect(top.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });

    // first with before: from the start up to the cursor.
    expect(slugs(await page('first: 10, before: $c', second.edges[0]!.cursor, ws._id))).toEqual(['bw6', 'bw5', 'bw4']);
    // The row under `after` is gone and was the first: nothing precedes the page any more.
    const firstCursor = first.edges[0]!.cursor;
    await Link.deleteOne({ workspaceId: ws._id, slug: 'bw6' });
    expect((await page('first: 2, after: $c', firstCursor, ws._id)).pageInfo).toMatchObject({ hasPreviousPage: false, hasNextPage: true });
    // An empty page has no cursors.
    expect((await page('first: 0', null, ws._id)).pageInfo).toMatchObject({ startCursor: null, endCursor: null, hasNextPage: true });
  });

  it('orderBy CLICKS pages with ties and missing values (sorted below every number, as MongoDB sorts), both ways', async () => {
    const clicks = [5, 3, 5, null, 0, 3, null, 9];
    const { ws, docs } = await linksAt('ck', clicks.map(() => Date.UTC(2026, 2, 1)), (i) => ({ clicks: clicks[i] ?? 0 }));
    // Missing, not 0: written before the field had a default.
    await Link.collection.updateMany({ _id: { $in: docs.filter((_, i) => clicks[i] === null).map((d) => d._id) } }, { $unset: { clicks: '' } });
    const byId = (a: number, b: number) => (String(docs[a]!._id) < String(docs[b]!._id) ? -1 : 1);
    const rank = (i: number) => clicks[i] ?? -Infinity;
    const ascending = clicks.map((_, i) => i).sort((a, b) => rank(a) - rank(b) || byId(a, b)).map((i) => `ck${i}`);
    for (const [direction, expected] of [['ASC', ascending], ['DESC', [...ascending].reverse()]] as const) {
      const order = `orderBy: { field: CLICKS, direction: ${direction} }`;
      const forward: string[] = [];
      let cursor: string | null = null;
      for (;;) {
        const p: Page = await page(`${order}, first: 3, after: $c`, cursor, ws._id);
        forward.push(...slugs(p));
        if (!p.pageInfo.hasNextPage) break;
        cursor = p.pageInfo.endCursor;
      }
      expect(forward, direction).toEqual(expected);
      const backward: string[] = [];
      cursor = null;
      for (;;) {
        const p: Page = await page(`${order}, last: 3, before: $c`, cursor, ws._id);
        backward.unshift(...slugs(p));
        if (!p.pageInfo.hasPreviousPage) break;
        cursor = p.pageInfo.startCursor;
      }
      expect(backward, direction).toEqual(expected);
    }
  });

  it('refuses a cursor of another list or order, an offset cursor and a tampered one, naming the argument', async () => {
    const { ws } = await linksAt('rf', [1, 2, 3]);
    const cursor = (await page('first: 1', null, ws._id)).pageInfo.endCursor!;
    const ask = async (document: string, variables: Record<string, unknown>) => (await gql(t.app, document, variables, { key })).body;
    const clicks = await ask('query($w: ID, $c: String) { links(workspaceId: $w, orderBy: { field: CLICKS }, after: $c) { totalCount } }', { w: gid('Workspace', ws._id), c: cursor });
    expect(clicks.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', argument: 'after' } });
    expect(clicks.errors?.[0]?.message).toMatch(/^after: .*another list or sort order/);
    const members = await ask('query($w: ID!, $c: String) { workspace(id: $w) { members(before: $c) { totalCount } } }', { w: gid('Workspace', ws._id), c: cursor });
    expect(members.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', argument: 'before' } });
    const offset = await ask('query($c: String) { links(after: $c) { totalCount } }', { c: Buffer.from('OffsetConnection:20').toString('base64') });
    expect(offset.errors?.[0]?.message).toMatch(/^after: .*offset cursor of an earlier version.*start again without "after"/);
    const text = Buffer.from(cursor, 'base64url').toString();
    for (const tampered of [text.replace(/\|[0-9a-f]{24}$/, '|xyz'), text.replace(/\|(\d+)\|/, '|12abc|'), `k9${text.slice(2)}`]) {
      const body = await ask('query($c: String) { links(after: $c) { totalCount } }', { c: Buffer.from(tampered).toString('base64url') });
      expect(body.errors?.[0], tampered).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', argument: 'after' } });
      expect(body.errors?.[0]?.message).toContain('is not a cursor of this API');
    }
  });
});

describe('totalCount from counters', () => {
  const total = async (document: string, variables: Record<string, unknown>, withKey = key) => {
    const result = await gql(t.app, document, variables, { key: withKey });
    expect(result.body.errors).toBeUndefined();
    return result.body.data;
  };

  it('follows create, archive, restore, project moves, delete, domain and project deletion; equals a count', async () => {
    const owner = await makeUser('counts');
    const ws = await makeWorkspace(owner, 'counts');
    const ownerKey = (await makeKey(owner)).secret;
    const w = gid('Workspace', ws._id);
    const call = async (document: string, variables: Record<string, unknown>) => (await gql(t.app, document, variables, { key: ownerKey })).body.data;
    const project = await Project.create({ workspaceId: ws._id, name: 'p' });
    const other = await Project.create({ workspaceId: ws._id, name: 'q' });
    const create = async (i: number, projectId?: Types.ObjectId) =>
      (await call('mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { id } } } }', { i: { workspaceId: w, url: `https://c${i}.example/`, ...(projectId ? { projectId: gid('Project', projectId) } : {}) } })).createLink.link.id as string;
    const update = (id: string, input: object) => call('mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename } }', { i: { id, ...input } });
    const ids = [await create(1, project._id), await create(2, project._id), await create(3), await create(4)];
    await update(ids[0]!, { archived: true });
    await update(ids[0]!, { archived: false });
    await update(ids[1]!, { archived: true });
    await update(ids[2]!, { projectId: gid('Project', other._id) });
    await update(ids[0]!, { projectId: gid('Project', other._id) });
    await call('mutation($i: LinkIdInput!) { deleteLink(input: $i) { __typename } }', { i: { id: ids[3] } });
    await call('mutation($i: LinkIdInput!) { deleteLink(input: $i) { __typename } }', { i: { id: ids[3] } }); // a second delete changes nothing

    const counted = async () => ({
      active: await Link.countDocuments({ workspaceId: ws._id, archived: false }),
      archived: await Link.countDocuments({ workspaceId: ws._id, archived: true }),
      p: await Link.countDocuments({ projectId: project._id, archived: false }),
      q: await Link.countDocuments({ projectId: other._id, archived: false }),
    });
    const shown = async () => {
      const data = await total(
        'query($w: ID!, $p: ID!, $q: ID!) { links(workspaceId: $w) { totalCount } archived: links(workspaceId: $w, filter: { archived: true }) { totalCount } workspace(id: $w) { links { totalCount } } p: node(id: $p) { ... on Project { links { totalCount } } } q: node(id: $q) { ... on Project { links { totalCount } } } }',
        { w, p: gid('Project', project._id), q: gid('Project', other._id) },
        ownerKey,
      );
      expect(data.workspace.links.totalCount, JSON.stringify(data)).toBe(data.links.totalCount);
      return { active: data.links.totalCount, archived: data.archived.totalCount, p: data.p.links.totalCount, q: data.q?.links.totalCount ?? null };
    };
    expect(await counted()).toEqual({ active: 2, archived: 1, p: 0, q: 2 });
    expect(await shown()).toEqual(await counted());

    // Deleting a project: its links stay (without project); its counter goes.
    await call('mutation($i: ProjectIdInput!) { deleteProject(input: $i) { __typename } }', { i: { id: gid('Project', other._id) } });
    expect(await Counter.findById(`projectLinks:${other._id}`).lean()).toBeNull();
    expect((await shown()).active).toBe(2);

    // Deleting the workspace deletes its counters.
    await call('mutation($i: WorkspaceIdInput!) { deleteWorkspace(input: $i) { __typename } }', { i: { id: w } });
    expect(await Counter.countDocuments({ workspaceId: ws._id })).toBe(0);
  });

  it('a domain deleted with archiveLinks moves its active links to the archived count', async () => {
    const owner = await makeUser('dom');
    const ws = await makeWorkspace(owner, 'dom');
    const ownerKey = (await makeKey(owner)).secret;
    const w = gid('Workspace', ws._id);
    const { Domain } = await import('../src/models/domain.ts');
    const domain = await Domain.create({ workspaceId: ws._id, hostname: 'go.counts.example', verified: true, verificationToken: 't' });
    for (const slug of ['d1', 'd2']) {
      await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }', { i: { workspaceId: w, url: 'https://x.example/', domain: 'go.counts.example', slug } }, { key: ownerKey });
    }
    await gql(t.app, 'mutation($i: DeleteDomainInput!) { deleteDomain(input: $i) { __typename } }', { i: { id: gid('Domain', domain._id), archiveLinks: true } }, { key: ownerKey });
    const data = (await gql(t.app, 'query($w: ID) { links(workspaceId: $w) { totalCount } archived: links(workspaceId: $w, filter: { archived: true }) { totalCount } }', { w }, { key: ownerKey })).body.data;
    expect(data).toEqual({ links: { totalCount: 0 }, archived: { totalCount: 2 } });
  });

  it('links(workspaceId) { totalCount } is one find by exact _id on counters, no count; a filtered list still counts', async () => {
    const { ws } = await linksAt('one', [1, 2, 3, 4]);
    const w = gid('Workspace', ws._id);
    await total('{ viewer { key { id } } }', {}); // warm the key cache
    const sent = await commandsDuring(started, () => total('query($w: ID) { links(workspaceId: $w) { totalCount } }', { w }));
    // Besides the key's roles (one read by _id) and the workspace (by _id, for its key policy; then
    // cached across requests), the counter: nothing reads the links.
    const collection = (c: { command: Record<string, any> }) => c.command.find ?? c.command.count ?? c.command.aggregate;
    expect(sent.filter((c) => collection(c) !== 'userroles').map((c) => [c.commandName, collection(c), c.command.filter])).toEqual([
      ['find', 'workspaces', { _id: ws._id }],
      ['find', 'counters', { _id: `links:${ws._id}` }],
    ]);
    const warm = await commandsDuring(started, () => total('query($w: ID) { links(workspaceId: $w) { totalCount } }', { w }));
    expect(warm.filter((c) => collection(c) !== 'userroles').map((c) => collection(c))).toEqual(['counters']);
    expect((await total('query($w: ID) { links(workspaceId: $w) { totalCount } }', { w })).links.totalCount).toBe(4);
    const filtered = await commandsDuring(started, () => total('query($w: ID) { links(workspaceId: $w, filter: { tag: "x" }) { totalCount } }', { w }));
    expect(filtered.filter((c) => collection(c) === 'links').map((c) => c.commandName)).toEqual(['aggregate']);
  });

  it('the recount repairs a counter that drifted (a crash between a write and its $inc) and is safe to repeat', async () => {
    const { ws } = await linksAt('rc', [1, 2, 3]);
    const w = gid('Workspace', ws._id);
    await Counter.updateOne({ _id: `links:${ws._id}` }, { $inc: { n: 5 } });
    await Counter.updateOne({ _id: `archivedLinks:${ws._id}` }, { $set: { n: 2 }, $setOnInsert: { workspaceId: ws._id } }, { upsert: true });
    expect((await total('query($w: ID) { links(workspaceId: $w) { totalCount } }', { w })).links.totalCount).toBe(8);
    // The first migration leaves existing counters alone; the recount sets them all.
    await recountLinkCounters({ missingOnly: true });
    expect((await total('query($w: ID) { links(workspaceId: $w) { totalCount } }', { w })).links.totalCount).toBe(8);
    await recountLinkCounters({ missingOnly: false });
    await recountLinkCounters({ missingOnly: false });
    const data = await total('query($w: ID) { links(workspaceId: $w) { totalCount } archived: links(workspaceId: $w, filter: { archived: true }) { totalCount } }', { w });
    expect(data).toEqual({ links: { totalCount: 3 }, archived: { totalCount: 0 } });
  });
});
