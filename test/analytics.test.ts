import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Types } from 'mongoose';
import { ClickDay, encodeCounterKey, linkDayId, workspaceDayId } from '../src/models/click-day.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
let key: string;
let workspaceId: string;
let workspaceObjectId: Types.ObjectId;

beforeAll(async () => {
  t = createTestApp(db());
  const user = await makeUser();
  const workspace = await makeWorkspace(user);
  workspaceObjectId = workspace._id;
  workspaceId = gid('Workspace', workspace._id);
  key = (await makeKey(user)).secret;
});
afterAll(() => t.close());

const CREATE = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on LinkPayload { link { id slug } } ... on Error { message } } }';
async function createLink(input: Record<string, unknown>) {
  const result = await gql(t.app, CREATE, { i: { workspaceId, ...input } }, { key });
  return result.body.data.createLink.link as { id: string; slug: string };
}

/** The ObjectId inside a global id, to write click counters for it as the redirect would. */
const objectId = (globalId: string) => new Types.ObjectId(Buffer.from(globalId, 'base64').toString('utf8').split(':')[1]);

type Dimension = 'total' | 'bot' | 'referrer' | 'device' | 'browser';
const FIELD: Record<Dimension, (value: string) => string> = {
  total: () => 'clicks',
  bot: () => 'botClicks',
  referrer: (value) => `referrers.${encodeCounterKey(value)}`,
  device: (value) => `devices.${encodeCounterKey(value)}`,
  browser: (value) => `browsers.${encodeCounterKey(value)}`,
};

/** Day counters exactly as the click flusher stores them: the link's day and its workspace's day. */
async function clicks(link: { id: string }, day: string, dimension: Dimension, value: string, count: number, workspace = workspaceObjectId) {
  const linkId = objectId(link.id);
  const $inc = { [FIELD[dimension](value)]: count };
  await ClickDay.updateOne({ _id: linkDayId(linkId, day) }, { $inc, $setOnInsert: { workspaceId: workspace, linkId, day } }, { upsert: true });
  // The workspace day also counts clicks per link, for topLinks.
  const workspaceInc = dimension === 'total' ? { ...$inc, [`links.${linkId}`]: count } : $inc;
  await ClickDay.updateOne({ _id: workspaceDayId(workspace, day) }, { $inc: workspaceInc, $setOnInsert: { workspaceId: workspace, day } }, { upsert: true });
}

const LINK_STATS = `query($id: ID!, $from: DateTime, $to: DateTime) { linkStats(linkId: $id, from: $from, to: $to) {
  __typename
  ... on LinkStats { from to totalClicks botClicks series { day clicks } referrers { value clicks } devices { value clicks } browsers { value clicks } link { id } }
  ... on ValidationError { field message }
} }`;
const linkStats = async (id: string, from?: string, to?: string) => (await gql(t.app, LINK_STATS, { id, from, to }, { key })).body.data.linkStats;

describe('analytics input', () => {
  it('refuses a range over 90 days or reversed with a typed error; days without clicks are zeros', async () => {
    const link = await createLink({ url: 'https://g.example/' });
    const query = 'query($id: ID!, $from: DateTime, $to: DateTime) { linkStats(linkId: $id, from: $from, to: $to) { __typename ... on ValidationError { field message } ... on LinkStats { series { clicks } } } }';
    const long = await gql(t.app, query, { id: link.id, from: '2026-01-01T00:00:00Z', to: '2026-04-01T00:00:00Z' }, { key });
    expect(long.body.data.linkStats).toMatchObject({ __typename: 'ValidationError', field: 'from' });
    expect(long.body.data.linkStats.message).toContain('at most 90');
    const reversed = await gql(t.app, query, { id: link.id, from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, { key });
    expect(reversed.body.data.linkStats.__typename).toBe('ValidationError');
    const ninety = await gql(t.app, query, { id: link.id, from: '2026-01-01T00:00:00Z', to: '2026-03-31T00:00:00Z' }, { key });
    expect(ninety.body.data.linkStats.series).toHaveLength(90);
    expect(ninety.body.data.linkStats.series.every((d: { clicks: number }) => d.clicks === 0)).toBe(true);
    const badDate = await gql(t.app, query, { id: link.id, from: 'yesterday' }, { key });
    expect(badDate.status).toBe(400);
    expect(badDate.body.errors?.[0]?.message).toContain('ISO 8601');
    const impossible = await gql(t.app, query, { id: link.id, from: '2027-02-30' }, { key });
    expect(impossible.status).toBe(400);
    expect(impossible.body.errors?.[0]?.message).toContain('day 30 does not exist in 2027-02');
    const literal = await gql(t.app, `query($id: ID!) { linkStats(linkId: $id, to: "2026-01-31T24:00:00Z") { __typename } }`, { id: link.id }, { key });
    expect(literal.status).toBe(400);
    expect(literal.body.errors?.[0]?.message).toContain('the hour must be 00 to 23');
  });

  it('workspaceStats refuses the same ranges, and a refused range is the answer even for an unknown link', async () => {
    const query = 'query($id: ID!, $from: DateTime, $to: DateTime) { workspaceStats(workspaceId: $id, from: $from, to: $to) { __typename ... on ValidationError { field message } } }';
    const reversed = await gql(t.app, query, { id: workspaceId, from: '2026-03-02T00:00:00Z', to: '2026-03-01T23:59:59Z' }, { key });
    expect(reversed.body.data.workspaceStats).toMatchObject({ __typename: 'ValidationError', field: 'from' });
    expect(reversed.body.data.workspaceStats.message).toContain('`from` must not be after `to`');
    const long = await gql(t.app, query, { id: workspaceId, from: '2025-12-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }, { key });
    expect(long.body.data.workspaceStats).toMatchObject({ __typename: 'ValidationError', field: 'from' });
    expect(long.body.data.workspaceStats.message).toContain('the range covers 91 days');
    expect(await linkStats(gid('Link', 'f'.repeat(24)), '2026-02-01T00:00:00Z', '2026-01-01T00:00:00Z')).toMatchObject({ __typename: 'ValidationError' });
    expect(await linkStats(gid('Link', 'f'.repeat(24)))).toBeNull();
  });
});

describe('linkStats', () => {
  it('counts only the UTC days of the range, whatever the time of day of from and to', async () => {
    const link = await createLink({ url: 'https://range.example/' });
    for (const [day, count] of [['2026-01-01', 1], ['2026-01-02', 2], ['2026-01-04', 4], ['2026-01-05', 5], ['2026-01-06', 6]] as const) {
      await clicks(link, day, 'total', 'all', count);
    }
    const stats = await linkStats(link.id, '2026-01-02T23:59:59Z', '2026-01-05T00:00:01Z');
    expect(stats).toMatchObject({ __typename: 'LinkStats', from: '2026-01-02', to: '2026-01-05', totalClicks: 11, link: { id: link.id } });
    expect(stats.series).toEqual([
      { day: '2026-01-02', clicks: 2 },
      { day: '2026-01-03', clicks: 0 },
      { day: '2026-01-04', clicks: 4 },
      { day: '2026-01-05', clicks: 5 },
    ]);
    const oneDay = await linkStats(link.id, '2026-01-06T08:00:00Z', '2026-01-06T20:00:00Z');
    expect(oneDay).toMatchObject({ from: '2026-01-06', to: '2026-01-06', totalClicks: 6, series: [{ day: '2026-01-06', clicks: 6 }] });
  });

  it('without from, covers the 30 days ending on `to`', async () => {
    const link = await createLink({ url: 'https://thirty.example/' });
    await clicks(link, '2026-05-02', 'total', 'all', 3);
    await clicks(link, '2026-05-01', 'total', 'all', 100);
    const stats = await linkStats(link.id, undefined, '2026-05-31T12:00:00Z');
    expect(stats).toMatchObject({ from: '2026-05-02', to: '2026-05-31', totalClicks: 3 });
    expect(stats.series).toHaveLength(30);
    expect(stats.series[0]).toEqual({ day: '2026-05-02', clicks: 3 });
  });

  it('breaks clicks down by referrer, device and browser in the range, most clicked first, at most 20', async () => {
    const link = await createLink({ url: 'https://breakdown.example/' });
    const day = '2026-02-10';
    await clicks(link, day, 'total', 'all', 60);
    await clicks(link, day, 'referrer', 'news.ycombinator.com', 30);
    await clicks(link, '2026-02-11', 'referrer', 'news.ycombinator.com', 5);
    await clicks(link, day, 'referrer', '(direct)', 10);
    await clicks(link, day, 'referrer', 'b.example', 10);
    await clicks(link, '2026-03-01', 'referrer', 'outside.example', 99);
    for (let i = 0; i < 25; i += 1) await clicks(link, day, 'browser', `Browser ${String(i).padStart(2, '0')}`, 25 - i);
    await clicks(link, day, 'device', 'desktop', 40);
    await clicks(link, day, 'device', 'mobile', 20);

    const stats = await linkStats(link.id, '2026-02-01T00:00:00Z', '2026-02-28T00:00:00Z');
    // Ties keep a stable order: by value.
    expect(stats.referrers).toEqual([
      { value: 'news.ycombinator.com', clicks: 35 },
      { value: '(direct)', clicks: 10 },
      { value: 'b.example', clicks: 10 },
    ]);
    expect(stats.devices).toEqual([{ value: 'desktop', clicks: 40 }, { value: 'mobile', clicks: 20 }]);
    expect(stats.browsers).toHaveLength(20);
    expect(stats.browsers[0]).toEqual({ value: 'Browser 00', clicks: 25 });
    expect(stats.browsers[19]).toEqual({ value: 'Browser 19', clicks: 6 });
  });

  it('counts bots apart: botClicks, never in totalClicks or the series', async () => {
    const link = await createLink({ url: 'https://botty.example/' });
    await clicks(link, '2026-04-01', 'total', 'all', 3);
    await clicks(link, '2026-04-01', 'bot', 'all', 7);
    await clicks(link, '2026-04-02', 'bot', 'all', 2);
    await clicks(link, '2026-04-09', 'bot', 'all', 50);
    const stats = await linkStats(link.id, '2026-04-01T00:00:00Z', '2026-04-02T00:00:00Z');
    expect(stats).toMatchObject({ totalClicks: 3, botClicks: 9 });
    expect(stats.series).toEqual([{ day: '2026-04-01', clicks: 3 }, { day: '2026-04-02', clicks: 0 }]);
  });
});

describe('workspaceStats', () => {
  const WORKSPACE_STATS = `query($id: ID!, $from: DateTime, $to: DateTime) { workspaceStats(workspaceId: $id, from: $from, to: $to) {
    __typename ... on WorkspaceStats { totalClicks botClicks series { day clicks } referrers { value clicks } workspace { id } topLinks { clicks link { id } } }
  } }`;

  it('adds up the links of the workspace only; top links are the most clicked, at most 10, deleted links left out', async () => {
    const user = await makeUser('stats');
    const own = await makeWorkspace(user);
    const ownKey = (await makeKey(user)).secret;
    const foreign = await makeWorkspace(await makeUser('foreign'));
    const ownId = gid('Workspace', own._id);
    const links: { id: string }[] = [];
    for (let i = 0; i < 12; i += 1) {
      const created = await gql(t.app, CREATE, { i: { workspaceId: ownId, url: `https://top${i}.example/` } }, { key: ownKey });
      links.push(created.body.data.createLink.link);
    }
    const day = '2026-06-15';
    for (const [i, link] of links.entries()) await clicks(link, day, 'total', 'all', 100 - i, own._id);
    await clicks(links[0]!, day, 'referrer', 'x.example', 4, own._id);
    await clicks(links[1]!, day, 'referrer', 'x.example', 6, own._id);
    await clicks(links[2]!, day, 'bot', 'all', 5, own._id);
    // Another workspace's counters on the same day are not ours.
    await clicks({ id: gid('Link', new Types.ObjectId()) }, day, 'total', 'all', 1000, foreign._id);
    // The most clicked link is deleted: its clicks still count, but it is no top link.
    await gql(t.app, 'mutation($i: LinkIdInput!) { deleteLink(input: $i) { __typename } }', { i: { id: links[0]!.id } }, { key: ownKey });

    const result = await gql(t.app, WORKSPACE_STATS, { id: ownId, from: '2026-06-14T00:00:00Z', to: '2026-06-15T00:00:00Z' }, { key: ownKey });
    const stats = result.body.data.workspaceStats;
    const total = Array.from({ length: 12 }, (_, i) => 100 - i).reduce((a, b) => a + b, 0);
    expect(stats).toMatchObject({ __typename: 'WorkspaceStats', totalClicks: total, botClicks: 5, workspace: { id: ownId }, referrers: [{ value: 'x.example', clicks: 10 }] });
    expect(stats.series).toEqual([{ day: '2026-06-14', clicks: 0 }, { day, clicks: total }]);
    expect(stats.topLinks).toEqual(links.slice(1, 11).map((link, i) => ({ clicks: 99 - i, link: { id: link.id } })));
  });

  it('a workspace the key cannot see has no stats (null, as for one that does not exist)', async () => {
    const foreign = await makeWorkspace(await makeUser('hidden'));
    const result = await gql(t.app, WORKSPACE_STATS, { id: gid('Workspace', foreign._id) }, { key });
    expect(result.body.data).toEqual({ workspaceStats: null });
  });
});
