import fc from 'fast-check';
import mongoose, { Types } from 'mongoose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateClickDays } from '../src/db/migrations.ts';
import {
  capKeys,
  ClickDay,
  decodeCounterKey,
  encodeCounterKey,
  linkDayId,
  MAX_KEYS_PER_LINK_DAY,
  OTHER_KEY,
  workspaceDayId,
  type ClickDayDoc,
} from '../src/models/click-day.ts';
import type { ClickFacts } from '../src/redirect/clicks.ts';
import { commandsDuring, createTestApp, gid, gql, isFerret, LogCapture, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, started } = useTestDatabase();
let t: TestApp;
let key: string;
let workspace: { _id: Types.ObjectId };
let workspaceId: string;

beforeAll(async () => {
  t = createTestApp(db());
  const user = await makeUser();
  workspace = await makeWorkspace(user);
  workspaceId = gid('Workspace', workspace._id);
  key = (await makeKey(user)).secret;
});
afterAll(() => t.close());

const CREATE = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { id } } } }';
/** A link made through the API, with what the click recorder needs of it. */
async function createLink(): Promise<{ id: string; doc: { _id: Types.ObjectId; workspaceId: Types.ObjectId; maxClicks: null } }> {
  const id: string = (await gql(t.app, CREATE, { i: { workspaceId, url: 'https://days.example/' } }, { key })).body.data.createLink.link.id;
  const _id = new Types.ObjectId(Buffer.from(id, 'base64').toString('utf8').split(':')[1]);
  return { id, doc: { _id, workspaceId: workspace._id, maxClicks: null } };
}

const facts = (day: string, referrerHost = '(direct)', browser = 'Firefox', device = 'desktop', bot = false): ClickFacts => ({ day, referrerHost, browser, device, bot });

const STATS = `... on ClickStats { from to totalClicks botClicks series { day clicks } referrers { value clicks } devices { value clicks } browsers { value clicks } }`;
const LINK_STATS = `query($id: ID!, $from: DateTime, $to: DateTime) { linkStats(linkId: $id, from: $from, to: $to) { __typename ${STATS} } }`;
const WORKSPACE_STATS = `query($id: ID!, $from: DateTime, $to: DateTime) { workspaceStats(workspaceId: $id, from: $from, to: $to) { __typename ${STATS} } }`;
const stats = async (query: string, id: string, from: string, to: string) => {
  const result = await gql(t.app, query, { id, from, to }, { key });
  expect(result.body.errors).toBeUndefined();
  return result.body.data.linkStats ?? result.body.data.workspaceStats;
};

/** The commands `run` sends to the click days collection. */
async function clickDayCommands(run: () => Promise<unknown>) {
  return (await commandsDuring(started, run)).filter((c) => Object.values(c.command).includes('clickdays'));
}

describe('stats are read by primary key', () => {
  it('linkStats and workspaceStats read one click day per day by { _id } (one $in on MongoDB), nothing else', async () => {
    const link = await createLink();
    t.services.clicks.record(link.doc, facts('2026-03-02'));
    await t.services.clicks.flush();
    for (const [query, id, prefix] of [
      [LINK_STATS, link.id, `${link.doc._id}:`],
      [WORKSPACE_STATS, workspaceId, `ws:${workspace._id}:`],
    ] as const) {
      const commands = await clickDayCommands(() => stats(query, id, '2026-03-01T00:00:00Z', '2026-03-30T00:00:00Z'));
      expect(commands.every((c) => c.commandName === 'find' && Object.keys(c.command.filter).join() === '_id')).toBe(true);
      const ids = commands.flatMap((c) => (typeof c.command.filter._id === 'string' ? [c.command.filter._id] : c.command.filter._id.$in));
      expect(commands).toHaveLength(isFerret() ? 30 : 1);
      expect(ids).toHaveLength(30);
      expect(ids.every((_id: string) => _id.startsWith(prefix))).toBe(true);
    }
  });

  it('a click flush writes one upsert by _id per link day and per workspace day touched', async () => {
    const links = await Promise.all(Array.from({ length: 30 }, () => createLink()));
    for (const link of links) t.services.clicks.record(link.doc, facts('2026-03-03', 'news.ycombinator.com', 'Chrome', 'mobile'));
    const commands = await clickDayCommands(() => t.services.clicks.flush());
    expect(commands.map((c) => c.commandName)).toEqual(['update']);
    const statements = commands[0]!.command.updates as { q: Record<string, unknown>; upsert: boolean }[];
    expect(statements).toHaveLength(31);
    expect(statements.every((s) => Object.keys(s.q).join() === '_id' && typeof s.q._id === 'string' && s.upsert)).toBe(true);
  });
});

describe('topLinks', () => {
  const TOP = 'query($id: ID!, $from: DateTime, $to: DateTime) { workspaceStats(workspaceId: $id, from: $from, to: $to) { ... on WorkspaceStats { topLinks { clicks link { id } } } } }';
  const top = async (from: string, to: string) => {
    const result = await gql(t.app, TOP, { id: workspaceId, from: `${from}T00:00:00Z`, to: `${to}T00:00:00Z` }, { key });
    expect(result.body.errors).toBeUndefined();
    return result.body.data.workspaceStats.topLinks;
  };

  it('adds up the clicks per link the workspace days keep, read by primary key', async () => {
    const [a, b] = [await createLink(), await createLink()];
    for (let i = 0; i < 3; i += 1) t.services.clicks.record(a.doc, facts('2026-08-01'));
    for (let i = 0; i < 5; i += 1) t.services.clicks.record(b.doc, facts('2026-08-01'));
    t.services.clicks.record(a.doc, facts('2026-08-02'));
    t.services.clicks.record(a.doc, facts('2026-08-02', '(direct)', 'Googlebot', 'desktop', true));
    await t.services.clicks.flush();
    let answer: unknown;
    const commands = await clickDayCommands(async () => (answer = await top('2026-08-01', '2026-08-02')));
    expect(answer).toEqual([{ clicks: 5, link: { id: b.id } }, { clicks: 4, link: { id: a.id } }]);
    // Two days for workspaceStats, the same two for topLinks.
    expect(commands).toHaveLength(isFerret() ? 4 : 2);
    expect(commands.every((c) => c.commandName === 'find' && Object.keys(c.command.filter).join() === '_id')).toBe(true);
  });

  it('over 1000 links on a workspace day, or a day written without them, it adds up the link days instead', async () => {
    const [c, d] = [await createLink(), await createLink()];
    const day = '2026-08-05';
    // Links that do not exist (any more): counted, left out of the answer.
    for (let i = 0; i < 1000; i += 1) t.services.clicks.record({ _id: new Types.ObjectId(), workspaceId: workspace._id, maxClicks: null }, facts(day));
    for (let i = 0; i < 3; i += 1) t.services.clicks.record(c.doc, facts(day));
    for (let i = 0; i < 2; i += 1) t.services.clicks.record(d.doc, facts(day));
    await t.services.clicks.flush();
    const workspaceDay = (await ClickDay.findById(workspaceDayId(workspace._id, day)).lean<ClickDayDoc>())!;
    expect(workspaceDay.links![OTHER_KEY]).toBe(5);
    let answer: unknown;
    const commands = await clickDayCommands(async () => (answer = await top(day, day)));
    expect(answer).toEqual([{ clicks: 3, link: { id: c.id } }, { clicks: 2, link: { id: d.id } }]);
    expect(commands.map((c) => c.commandName)).toContain('aggregate');

    // A workspace day bumped without its links (as an older writer might): the link days decide.
    const other = '2026-08-06';
    t.services.clicks.record(d.doc, facts(other));
    await t.services.clicks.flush();
    await ClickDay.updateOne({ _id: workspaceDayId(workspace._id, other) }, { $inc: { clicks: 7 } });
    await ClickDay.updateOne({ _id: linkDayId(c.doc._id, other) }, { $inc: { clicks: 7 }, $setOnInsert: { workspaceId: workspace._id, linkId: c.doc._id, day: other } }, { upsert: true });
    expect(await top(other, other)).toEqual([{ clicks: 7, link: { id: c.id } }, { clicks: 1, link: { id: d.id } }]);
  });
});

describe('click days', () => {
  it('keep referrers, devices and browsers with dots, $ and % exactly, and add links up into their workspace', async () => {
    const [a, b] = [await createLink(), await createLink()];
    const day = '2026-04-10';
    const odd = ['news.ycombinator.com', '$where.example', 'a%2Eb.example', '(direct)'];
    for (const referrer of odd) t.services.clicks.record(a.doc, facts(day, referrer, 'Mobile Safari', 'mobile'));
    t.services.clicks.record(a.doc, facts(day, 'news.ycombinator.com', '', 'desktop'));
    t.services.clicks.record(a.doc, facts('2026-04-11', 'news.ycombinator.com', 'Firefox'));
    t.services.clicks.record(a.doc, facts(day, '(direct)', 'Googlebot', 'desktop', true));
    t.services.clicks.record(b.doc, facts(day, 'news.ycombinator.com', 'Firefox'));
    await t.services.clicks.flush();

    const linkA = await stats(LINK_STATS, a.id, '2026-04-09T00:00:00Z', '2026-04-11T00:00:00Z');
    expect(linkA).toMatchObject({ __typename: 'LinkStats', totalClicks: 6, botClicks: 1 });
    expect(linkA.series).toEqual([{ day: '2026-04-09', clicks: 0 }, { day, clicks: 5 }, { day: '2026-04-11', clicks: 1 }]);
    expect(linkA.referrers).toEqual([
      { value: 'news.ycombinator.com', clicks: 3 },
      { value: '(direct)', clicks: 1 },
      { value: '$where.example', clicks: 1 },
      { value: 'a%2Eb.example', clicks: 1 },
    ]);
    expect(linkA.devices).toEqual([{ value: 'mobile', clicks: 4 }, { value: 'desktop', clicks: 2 }]);
    expect(linkA.browsers).toEqual([{ value: 'Mobile Safari', clicks: 4 }, { value: '', clicks: 1 }, { value: 'Firefox', clicks: 1 }]);

    const all = await stats(WORKSPACE_STATS, workspaceId, '2026-04-10T00:00:00Z', '2026-04-11T00:00:00Z');
    expect(all).toMatchObject({ totalClicks: 7, botClicks: 1, series: [{ day, clicks: 6 }, { day: '2026-04-11', clicks: 1 }] });
    expect(all.referrers[0]).toEqual({ value: 'news.ycombinator.com', clicks: 4 });
    // Stored nested one level only: the dots are encoded.
    const stored = (await ClickDay.findById(linkDayId(a.doc._id, day)).lean<ClickDayDoc>())!;
    expect(Object.keys(stored.referrers!).sort()).toEqual(['%24where%2Eexample', '(direct)', 'a%252Eb%2Eexample', 'news%2Eycombinator%2Ecom']);
    expect(stored.referrers!['news%2Eycombinator%2Ecom']).toBe(2);
  });

  it(`keep at most ${MAX_KEYS_PER_LINK_DAY} referrers per link day; later new ones count as ${OTHER_KEY}, known ones keep counting`, async () => {
    const link = await createLink();
    const day = '2026-05-01';
    for (let i = 0; i < 150; i += 1) t.services.clicks.record(link.doc, facts(day, `r${i}.spam.example`));
    await t.services.clicks.flush();
    t.services.clicks.record(link.doc, facts(day, 'r0.spam.example'));
    t.services.clicks.record(link.doc, facts(day, 'new.example'));
    await t.services.clicks.flush();

    const stored = (await ClickDay.findById(linkDayId(link.doc._id, day)).lean<ClickDayDoc>())!;
    expect(Object.keys(stored.referrers!)).toHaveLength(MAX_KEYS_PER_LINK_DAY + 1);
    expect(stored.referrers![OTHER_KEY]).toBe(51);
    expect(stored.referrers!['r0%2Espam%2Eexample']).toBe(2);
    expect(Object.values(stored.referrers!).reduce((a, b) => a + b, 0)).toBe(152);
    const linkStats = await stats(LINK_STATS, link.id, `${day}T00:00:00Z`, `${day}T00:00:00Z`);
    expect(linkStats.totalClicks).toBe(152);
    expect(linkStats.referrers[0]).toEqual({ value: OTHER_KEY, clicks: 51 });
    // The workspace day has room for more (1000): all 151 hosts are there.
    const workspaceDay = (await ClickDay.findById(workspaceDayId(workspace._id, day)).lean<ClickDayDoc>())!;
    expect(Object.keys(workspaceDay.referrers!)).toHaveLength(151);
  });

  it('encode any breakdown value as a field name without dots or $, and decode it back', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const key = encodeCounterKey(value);
        expect(key).not.toMatch(/[.$\0]/);
        expect(key).not.toBe('');
        expect(decodeCounterKey(key)).toBe(value);
      }),
    );
    expect(encodeCounterKey('news.ycombinator.com')).toBe('news%2Eycombinator%2Ecom');
  });

  it('capKeys keeps the most clicked keys and adds the rest to (other)', () => {
    const counts = new Map([['a', 5], ['b', 1], [OTHER_KEY, 2], ['c', 3]]);
    expect([...capKeys(counts, 2)]).toEqual([['a', 5], ['c', 3], [OTHER_KEY, 3]]);
    expect(capKeys(counts, 4)).toBe(counts);
  });
});

describe('migration from click buckets', () => {
  it('converts every bucket into link and workspace days, idempotently, then drops the buckets', async () => {
    const [a, b] = [await createLink(), await createLink()];
    const ws = workspace._id;
    const bucket = (link: { doc: { _id: Types.ObjectId } }, day: string, dimension: string, value: string, clicks: number) => ({
      _id: `${link.doc._id}:${day}:${dimension}:${value}`,
      workspaceId: ws,
      linkId: link.doc._id,
      day,
      dimension,
      value,
      clicks,
    });
    const old = mongoose.connection.collection<{ _id: string }>('clickbuckets');
    await old.insertMany([
      bucket(a, '2026-07-01', 'total', 'all', 10),
      bucket(a, '2026-07-01', 'bot', 'all', 4),
      bucket(a, '2026-07-01', 'referrer', 'news.ycombinator.com', 7),
      bucket(a, '2026-07-01', 'referrer', '(direct)', 3),
      bucket(a, '2026-07-01', 'device', 'desktop', 10),
      bucket(a, '2026-07-01', 'browser', 'Firefox', 10),
      bucket(a, '2026-07-02', 'total', 'all', 2),
      bucket(a, '2026-07-02', 'referrer', 'news.ycombinator.com', 2),
      bucket(b, '2026-07-01', 'total', 'all', 120),
      // More referrers than a link day keeps: the 100 most clicked stay, the rest is (other).
      ...Array.from({ length: 119 }, (_, i) => bucket(b, '2026-07-01', 'referrer', `h${i}.example`, i < 99 ? 2 : 1)),
      bucket(b, '2026-07-01', 'referrer', 'news.ycombinator.com', 3),
    ]);
    // A run that wrote this day before it crashed: the rerun must not add to it.
    await ClickDay.updateOne({ _id: linkDayId(a.doc._id, '2026-07-02') }, { $set: { workspaceId: ws, linkId: a.doc._id, day: '2026-07-02', clicks: 2 } }, { upsert: true });

    const logs = new LogCapture();
    const logger = pino({ level: 'info' }, logs);
    const check = async () => {
      const linkA = await stats(LINK_STATS, a.id, '2026-07-01T00:00:00Z', '2026-07-02T00:00:00Z');
      expect(linkA).toMatchObject({ totalClicks: 12, botClicks: 4, series: [{ day: '2026-07-01', clicks: 10 }, { day: '2026-07-02', clicks: 2 }] });
      expect(linkA.referrers).toEqual([{ value: 'news.ycombinator.com', clicks: 9 }, { value: '(direct)', clicks: 3 }]);
      expect(linkA.devices).toEqual([{ value: 'desktop', clicks: 10 }]);
      expect(linkA.browsers).toEqual([{ value: 'Firefox', clicks: 10 }]);
      const linkB = (await ClickDay.findById(linkDayId(b.doc._id, '2026-07-01')).lean<ClickDayDoc>())!;
      expect(Object.keys(linkB.referrers!)).toHaveLength(MAX_KEYS_PER_LINK_DAY + 1);
      expect(linkB.referrers![OTHER_KEY]).toBe(20);
      expect(linkB.referrers!['news%2Eycombinator%2Ecom']).toBe(3);
      const all = await stats(WORKSPACE_STATS, workspaceId, '2026-07-01T00:00:00Z', '2026-07-02T00:00:00Z');
      expect(all).toMatchObject({ totalClicks: 132, botClicks: 4, series: [{ day: '2026-07-01', clicks: 130 }, { day: '2026-07-02', clicks: 2 }] });
      expect(all.referrers[0]).toEqual({ value: 'news.ycombinator.com', clicks: 12 });
      const top = await gql(t.app, 'query($id: ID!) { workspaceStats(workspaceId: $id, from: "2026-07-01T00:00:00Z", to: "2026-07-02T00:00:00Z") { ... on WorkspaceStats { topLinks { clicks link { id } } } } }', { id: workspaceId }, { key });
      expect(top.body.data.workspaceStats.topLinks).toEqual([{ clicks: 120, link: { id: b.id } }, { clicks: 12, link: { id: a.id } }]);
      const workspaceDay = (await ClickDay.findById(workspaceDayId(ws, '2026-07-01')).lean<ClickDayDoc>())!;
      expect(workspaceDay.links).toEqual({ [String(a.doc._id)]: 10, [String(b.doc._id)]: 120 });
    };

    expect(await migrateClickDays(logger, { force: true })).toBe(5); // 3 link days, 2 workspace days
    expect(logs.text).toContain('click buckets migrated to click days');
    await check();
    expect(await old.countDocuments()).toBe(0);
    expect((await mongoose.connection.db!.listCollections({ name: 'clickbuckets' }).toArray()).length).toBe(0);

    // As after a crash before the bucket drop: the same buckets again, the days already written.
    await old.insertMany([bucket(a, '2026-07-02', 'total', 'all', 2), bucket(a, '2026-07-02', 'referrer', 'news.ycombinator.com', 2)]);
    await migrateClickDays(logger, { force: true });
    const again = await stats(LINK_STATS, a.id, '2026-07-02T00:00:00Z', '2026-07-02T00:00:00Z');
    expect(again.totalClicks).toBe(2);
    // Recorded as done: a plain run (every start) reads one marker and does nothing.
    expect(await migrateClickDays(logger)).toBe(0);
  });
});
