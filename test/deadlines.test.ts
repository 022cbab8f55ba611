import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyQueryDeadline } from '../src/db/deadlines.ts';
import { readerOf, withReadSignal } from '../src/db/read-connection.ts';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import { createTestApp, gid, gql, isFerret, listenOnSocket, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, started } = useTestDatabase();
let t: TestApp;
let key: string;
let workspaceId: string;
let firstLinkId: Types.ObjectId;

/** Enough links that listing them is a scan of a few hundred ms on the embedded database. */
const LINKS = 3000;

beforeAll(async () => {
  t = createTestApp(db(), { DB_QUERY_TIMEOUT_MS: '10000' });
  const user = await makeUser('deadline');
  const workspace = await makeWorkspace(user, 'w');
  workspaceId = gid('Workspace', workspace._id);
  key = (await makeKey(user)).secret;
  const [project] = await Project.insertMany([{ workspaceId: workspace._id, name: 'p' }]);
  const links = await Link.insertMany(
    Array.from({ length: LINKS }, (_, i) => ({
      workspaceId: workspace._id,
      domain: 'tpt.test',
      slug: `d${i}`,
      url: 'https://example.com/',
      // Only the last links match the search: finding them means reading every link.
      title: i >= LINKS - 20 ? 'needle' : 'hay',
      projectId: project!._id,
      createdByUserId: user._id,
    })),
  );
  firstLinkId = links[0]!._id;
});
afterAll(() => t.close());

/** A scan of every link (a search no index answers), then a project and a creator per link found. */
const LIST =
  'query($w: ID, $search: String = "needle") { links(workspaceId: $w, first: 20, filter: { search: $search }) { edges { node { slug project { name } createdBy { email } } } } }';

describe('a second connection for slow reads', () => {
  it.runIf(isFerret())('on the embedded database, readerOf reads through its own connection and sees what the main one wrote', async () => {
    const reader = readerOf(Link);
    expect(reader.db).not.toBe(Link.db);
    expect(reader.db.getClient()).not.toBe(Link.db.getClient());
    const link = await Link.create({ workspaceId: new Types.ObjectId(), domain: 'tpt.test', slug: 'fresh', url: 'https://example.com/', createdByUserId: new Types.ObjectId() });
    expect((await reader.findById(link._id).lean().exec())?.slug).toBe('fresh');
    await Link.deleteOne({ _id: link._id });
  });

  it.runIf(!isFerret())('on MongoDB, readerOf is the model itself (its pool is concurrent)', () => {
    expect(readerOf(Link)).toBe(Link);
  });

  it('a primary-key read is answered while a scan runs on the reader, not after it', async () => {
    const order: string[] = [];
    const before = started.length;
    const scan = readerOf(Link)
      .find({ url: { $ne: 'x' } })
      .sort({ createdAt: -1 })
      .limit(20) // one reply: no getMore between which another command could slip
      .lean()
      .exec()
      .then(() => order.push('scan'));
    // The scan's command has left before the primary-key read is asked for.
    while (!started.slice(before).some((c) => c.commandName === 'find')) await new Promise((resolve) => setTimeout(resolve, 1));
    const byId = Link.findById(firstLinkId).lean().exec().then(() => order.push('byId'));
    await Promise.all([scan, byId]);
    expect(order).toEqual(['byId', 'scan']);
  });
});

describe('deadlines', () => {
  it('every read carries the configured maxTimeMS', async () => {
    const before = started.length;
    const result = await gql(t.app, LIST, { w: workspaceId }, { key });
    expect(result.body.errors).toBeUndefined();
    const reads = started.slice(before).filter((c) => ['find', 'aggregate', 'count', 'distinct'].includes(c.commandName));
    expect(reads.length).toBeGreaterThan(0);
    for (const read of reads) expect(read.command.maxTimeMS, `${read.commandName} ${JSON.stringify(read.command.filter ?? read.command.pipeline)}`).toBe(10_000);
  });

  // A scan of 3000 links over a 20 ms deadline: only the embedded database is reliably that slow.
  it.runIf(isFerret())('a query over its deadline is stopped and answers TIMEOUT, saying how to narrow it', async () => {
    const deadlined = createTestApp(db(), { DB_QUERY_TIMEOUT_MS: '20' });
    const connections = [db().connection, db().reader].filter((c) => c !== undefined);
    try {
      for (const connection of connections) applyQueryDeadline(connection, 20);
      const result = await gql(deadlined.app, LIST, { w: workspaceId }, { key });
      expect(result.status).toBe(200);
      expect(result.body.errors).toHaveLength(1);
      expect(result.body.errors![0]!.extensions).toEqual({ code: 'TIMEOUT' });
      expect(result.body.errors![0]!.message).toMatch(/longer than 20 ms.*narrow the filter.*smaller "first"/);
      expect(deadlined.logs.text).not.toContain('unexpected error');
    } finally {
      for (const connection of connections) applyQueryDeadline(connection, 10_000);
      await deadlined.close();
    }
  });
});

describe('abandoned work stops', () => {
  // The client leaves while the scan runs: only the embedded database is reliably slower than that.
  it.runIf(isFerret())('a client that goes away mid-query gets no further reads issued for it', async () => {
    const server = await listenOnSocket(t.app);
    try {
      const controller = new AbortController();
      const before = started.length;
      // Abort once the listing's read has gone out: the project and creator loads come after it.
      const client = t.services.db.connection.getClient();
      const readers = [client, t.services.db.reader?.getClient()].filter((c) => c !== undefined);
      let scanDone!: () => void;
      const scanFinished = new Promise<void>((resolve) => (scanDone = resolve));
      let scanRequestId: number | undefined;
      const onStarted = (event: { commandName: string; command: Record<string, any>; requestId: number }) => {
        if (scanRequestId === undefined && event.commandName === 'find' && event.command.find === 'links') {
          scanRequestId = event.requestId;
          setTimeout(() => controller.abort(), 20);
        }
      };
      const onEnded = (event: { requestId: number }) => {
        if (event.requestId === scanRequestId) scanDone();
      };
      for (const c of readers) {
        c.on('commandStarted', onStarted);
        c.on('commandSucceeded', onEnded);
        c.on('commandFailed', onEnded);
      }
      const response = fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: LIST, variables: { w: workspaceId } }),
        signal: controller.signal,
      });
      await expect(response).rejects.toThrow();
      await scanFinished;
      // Give the request's remaining resolvers every chance to issue their reads.
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const c of readers) {
        c.off('commandStarted', onStarted);
        c.off('commandSucceeded', onEnded);
        c.off('commandFailed', onEnded);
      }
      const issued = started.slice(before).map((c) => `${c.commandName} ${c.command[c.commandName]}`);
      const afterScan = issued.slice(issued.indexOf('find links') + 1);
      expect(afterScan.filter((c) => /^(find|aggregate|count)/.test(c))).toEqual([]);
      expect(t.logs.text).not.toContain('unexpected error');
    } finally {
      await server.close();
    }
  });

  it.runIf(isFerret())('a slow read still waiting for a connection when its request is abandoned is never sent', async () => {
    const before = started.length;
    // Every connection of the reader busy with a scan; then one more read, which has to wait.
    const scans = Array.from({ length: 4 }, () => readerOf(Link).find({ title: 'none' }).limit(1).lean().exec());
    const controller = new AbortController();
    const queued = withReadSignal(controller.signal, () => readerOf(Link).find({ slug: 'queued' }).lean().exec());
    controller.abort();
    await expect(queued).rejects.toThrow(/abort/i);
    // The scans may hit the test's deadline on a loaded machine: what matters is which reads were sent.
    await Promise.allSettled(scans);
    const finds = started.slice(before).filter((c) => c.commandName === 'find');
    expect(finds.map((c) => c.command.filter)).toEqual(Array(4).fill({ title: 'none' }));
  });

  it('the same query run to the end does load projects and creators (the test above can fail)', async () => {
    t.services.documents.clear(); // else they may come from the cache across requests
    const before = started.length;
    const result = await gql(t.app, LIST, { w: workspaceId }, { key });
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.links.edges).toHaveLength(20);
    const issued = started.slice(before).map((c) => `${c.commandName} ${c.command[c.commandName]}`);
    expect(issued.slice(issued.indexOf('find links') + 1)).toContain('find projects');
  });
});
