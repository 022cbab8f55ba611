import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Types } from 'mongoose';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { countQueries, createTestApp, gid, gql, listenOnSocket, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, commands } = useTestDatabase();
let t: TestApp;
let socket: Awaited<ReturnType<typeof listenOnSocket>>;
let key: string;
let workspaceId: string;

beforeAll(async () => {
  t = createTestApp(db());
  socket = await listenOnSocket(t.app);
  const user = await makeUser();
  const workspace = await makeWorkspace(user);
  workspaceId = gid('Workspace', workspace._id);
  key = (await makeKey(user)).secret;
  await Domain.create({ workspaceId: workspace._id, hostname: 'go.brand.example', verified: true, verificationToken: 'x', notFoundUrl: 'https://brand.example/missing' });
});
afterAll(async () => {
  await socket.close();
  await t.close();
});

/** A GET over the real socket with any Host header (fetch does not let us set Host). */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; location?: string; body: string; cacheControl?: string }> {
  const { port } = new URL(socket.url);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path, method: 'GET', headers: { host: 'tpt.test', ...headers }, agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode!, location: response.headers.location, body, cacheControl: response.headers['cache-control'] }),
      );
    });
    request.on('error', reject);
    request.end();
  });
}

const CREATE = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on LinkPayload { link { id slug } } ... on Error { message } } }';
async function createLink(input: Record<string, unknown>) {
  const result = await gql(t.app, CREATE, { i: { workspaceId, ...input } }, { key });
  return result.body.data.createLink.link as { id: string; slug: string };
}

describe('redirect over HTTP', () => {
  it('302 to the destination with the UTM parameters merged, never cached by clients', async () => {
    const link = await createLink({ url: 'https://shop.example/p?ref=x&utm_source=old', utm: { source: 'newsletter', campaign: 'spring' } });
    const response = await get(`/${link.slug}`);
    expect(response.status).toBe(302);
    const location = new URL(response.location!);
    expect(location.origin + location.pathname).toBe('https://shop.example/p');
    expect(Object.fromEntries(location.searchParams)).toEqual({ ref: 'x', utm_source: 'newsletter', utm_campaign: 'spring' });
    expect(response.cacheControl).toBe('no-store');
  });

  it('404 for unknown and malformed slugs; the server paths are not slugs', async () => {
    expect((await get('/nope-nope')).status).toBe(404);
    expect((await get('/bad%ZZslug')).status).toBe(404);
    expect((await get('/a/b')).status).toBe(404);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('410 when expired, archived (cache dropped on update), or over maxClicks (before any flush)', async () => {
    const expiring = await createLink({ url: 'https://a.example/', expiresAt: new Date(Date.now() + 60_000).toISOString() });
    await Link.updateOne({ slug: expiring.slug }, { expiresAt: new Date(Date.now() - 1000) });
    expect((await get(`/${expiring.slug}`)).status).toBe(410);

    const archived = await createLink({ url: 'https://b.example/' });
    expect((await get(`/${archived.slug}`)).status).toBe(302); // now cached
    await gql(t.app, 'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename } }', { i: { id: archived.id, archived: true } }, { key });
    const gone = await get(`/${archived.slug}`);
    expect(gone.status).toBe(410);
    expect(gone.body).toContain('archived');

    const limited = await createLink({ url: 'https://c.example/', maxClicks: 2 });
    expect((await get(`/${limited.slug}`)).status).toBe(302);
    expect((await get(`/${limited.slug}`)).status).toBe(302);
    expect((await get(`/${limited.slug}`)).status).toBe(410);
    await t.services.clicks.flush();
    expect((await get(`/${limited.slug}`)).status).toBe(410);
    expect((await Link.findOne({ slug: limited.slug }).lean())!.clicks).toBe(2);
  });

  it('answers on a custom domain by Host, and sends unknown or gone links to its notFoundUrl', async () => {
    const link = await createLink({ url: 'https://brand.example/sale', domain: 'go.brand.example', slug: 'sale' });
    expect(link.slug).toBe('sale');
    expect((await get('/sale', { host: 'go.brand.example' })).location).toBe('https://brand.example/sale');
    expect((await get('/sale')).status).toBe(404); // not on the platform domain
    const missing = await get('/unknown', { host: 'GO.BRAND.EXAMPLE' });
    expect(missing).toMatchObject({ status: 302, location: 'https://brand.example/missing' });
  });

  it('a cached redirect costs no database query, on the platform domain and on a custom domain', async () => {
    const link = await createLink({ url: 'https://d.example/' });
    await get(`/${link.slug}`);
    const { count } = await countQueries(commands, () => get(`/${link.slug}`));
    expect(count).toBe(0);
    const custom = await createLink({ url: 'https://d.example/custom', domain: 'go.brand.example' });
    await get(`/${custom.slug}`, { host: 'go.brand.example' });
    const onCustom = await countQueries(commands, () => get(`/${custom.slug}`, { host: 'go.brand.example' }));
    expect(onCustom.count).toBe(0);
  });

  it('200 concurrent redirects of one link give exactly 200 clicks after the flush, with referrer, device, browser and day', async () => {
    const link = await createLink({ url: 'https://e.example/' });
    const agents = [
      ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1', 'https://news.ycombinator.com/item?id=1'],
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0', ''],
      ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36', 'https://www.google.com/'],
      ['Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1', 'https://news.ycombinator.com/'],
    ] as const;
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const [ua, referer] = agents[i % agents.length]!;
        return get(`/${link.slug}`, { 'user-agent': ua, ...(referer ? { referer } : {}) });
      }),
    );
    expect(responses.every((r) => r.status === 302)).toBe(true);
    await t.services.clicks.flush();
    expect((await Link.findOne({ slug: link.slug }).lean())!.clicks).toBe(200);

    const stats = await gql(
      t.app,
      'query($id: ID!) { linkStats(linkId: $id) { ... on LinkStats { totalClicks from to series { day clicks } referrers { value clicks } devices { value clicks } browsers { value clicks } link { clicks } } } }',
      { id: link.id },
      { key },
    );
    const s = stats.body.data.linkStats;
    const today = new Date().toISOString().slice(0, 10);
    expect(s.totalClicks).toBe(200);
    expect(s.link.clicks).toBe(200);
    expect(s.series).toHaveLength(30);
    expect(s.to).toBe(today);
    expect(s.series.at(-1)).toEqual({ day: today, clicks: 200 });
    expect(s.series.slice(0, -1).every((d: { clicks: number }) => d.clicks === 0)).toBe(true);
    expect(s.referrers).toEqual([
      { value: 'news.ycombinator.com', clicks: 100 },
      { value: '(direct)', clicks: 50 },
      { value: 'www.google.com', clicks: 50 },
    ]);
    expect(s.devices).toEqual(expect.arrayContaining([{ value: 'mobile', clicks: 50 }, { value: 'tablet', clicks: 50 }, { value: 'desktop', clicks: 100 }]));
    expect(s.browsers).toEqual(expect.arrayContaining([{ value: 'Mobile Safari', clicks: 100 }, { value: 'Firefox', clicks: 50 }, { value: 'Chrome', clicks: 50 }]));

    const ws = await gql(t.app, 'query($id: ID!) { workspaceStats(workspaceId: $id) { ... on WorkspaceStats { totalClicks topLinks { clicks link { slug } } } } }', { id: workspaceId }, { key });
    expect(ws.body.data.workspaceStats.topLinks[0]).toEqual({ clicks: 200, link: { slug: link.slug } });
    expect(ws.body.data.workspaceStats.totalClicks).toBeGreaterThanOrEqual(200);
  });

  it('a graceful stop flushes pending clicks', async () => {
    const other = createTestApp(db());
    const link = await createLink({ url: 'https://f.example/' });
    const response = await other.app.fetch(new Request(`http://tpt.test/${link.slug}`));
    expect(response.status).toBe(302);
    await other.close();
    expect((await Link.findOne({ slug: link.slug }).lean())!.clicks).toBe(1);
  });
});

describe('custom domains serve nothing until verified', () => {
  // A fresh app without caches, so each request sees the database as it is now.
  let fresh: TestApp;
  beforeAll(() => {
    fresh = createTestApp(db(), { KEY_CACHE_TTL_MS: '0' });
  });
  afterAll(() => fresh.close());
  const fetchOn = (host: string, path: string) => fresh.app.fetch(new Request(`http://${host}${path}`));
  const expectPlatform404 = async (response: Response) => {
    expect(response.status).toBe(404);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toBe('No link with this address.\n');
  };

  it("an unverified domain never redirects to its notFoundUrl (no open redirect on someone else's hostname)", async () => {
    const added = await gql(
      t.app,
      'mutation($i: AddDomainInput!) { addDomain(input: $i) { __typename ... on DomainPayload { domain { verified notFoundUrl } } } }',
      { i: { workspaceId, hostname: 'login.bigbank.test', notFoundUrl: 'https://phish.example/login' } },
      { key },
    );
    expect(added.body.data.addDomain.domain).toEqual({ verified: false, notFoundUrl: 'https://phish.example/login' });
    await expectPlatform404(await fetchOn('login.bigbank.test', '/anything'));
    await expectPlatform404(await fetchOn('LOGIN.BIGBANK.TEST', '/'));
  });

  it('a link on an unverified, unverified-again or deleted domain answers the plain 404', async () => {
    const workspace = (await Domain.findOne({ hostname: 'go.brand.example' }).lean())!.workspaceId;
    const linkOn = (domain: string, slug: string) =>
      Link.create({ workspaceId: workspace, domain, slug, url: 'https://brand.example/x', createdByUserId: new Types.ObjectId() });

    await linkOn('login.bigbank.test', 'planted'); // written behind the API's back
    await expectPlatform404(await fetchOn('login.bigbank.test', '/planted'));

    await Domain.create({ workspaceId: workspace, hostname: 'was.brand.example', verified: true, verificationToken: 'x', notFoundUrl: 'https://brand.example/missing' });
    await linkOn('was.brand.example', 'live');
    expect((await fetchOn('was.brand.example', '/live')).status).toBe(302);
    await Domain.updateOne({ hostname: 'was.brand.example' }, { verified: false });
    await expectPlatform404(await fetchOn('was.brand.example', '/live'));
    await expectPlatform404(await fetchOn('was.brand.example', '/unknown'));

    await Domain.deleteOne({ hostname: 'was.brand.example' });
    await expectPlatform404(await fetchOn('was.brand.example', '/live'));
  });

  it("a link does not answer on its hostname once another workspace owns (and verified) it", async () => {
    const workspace = (await Domain.findOne({ hostname: 'go.brand.example' }).lean())!.workspaceId;
    await Link.create({ workspaceId: workspace, domain: 'moved.example', slug: 'old', url: 'https://brand.example/old', createdByUserId: new Types.ObjectId() });
    await Domain.create({ workspaceId: new Types.ObjectId(), hostname: 'moved.example', verified: true, verificationToken: 'x' });
    await expectPlatform404(await fetchOn('moved.example', '/old'));
  });
});

describe('bot clicks', () => {
  const UA = {
    slack: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
    twitter: 'Twitterbot/1.0',
    google: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    curl: 'curl/8.5.0',
    chrome: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  };
  const follow = (slug: string, ua?: string) => t.app.fetch(new Request(`http://tpt.test/${slug}`, { headers: ua ? { 'user-agent': ua } : {} }));
  const STATS = 'query($id: ID!) { linkStats(linkId: $id) { ... on LinkStats { totalClicks botClicks browsers { value clicks } link { clicks botClicks } } } }';

  it('preview fetchers, crawlers and curl are redirected but counted as bot clicks; browsers and requests without User-Agent are clicks', async () => {
    const link = await createLink({ url: 'https://bots.example/' });
    for (const ua of [UA.slack, UA.twitter, UA.google, UA.curl, UA.chrome, undefined]) {
      const response = await follow(link.slug, ua);
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe('https://bots.example/');
    }
    await t.services.clicks.flush();
    const stats = (await gql(t.app, STATS, { id: link.id }, { key })).body.data.linkStats;
    expect(stats).toMatchObject({ totalClicks: 2, botClicks: 4, link: { clicks: 2, botClicks: 4 } });
    expect(stats.browsers).toEqual(expect.arrayContaining([{ value: 'Chrome', clicks: 1 }, { value: 'Other', clicks: 1 }]));
    expect(stats.browsers.reduce((sum: number, b: { clicks: number }) => sum + b.clicks, 0)).toBe(2);
    expect((await Link.findOne({ slug: link.slug }).lean())!.clicks).toBe(2);
  });

  it('bots do not use up maxClicks', async () => {
    const link = await createLink({ url: 'https://limited.example/', maxClicks: 1 });
    for (const ua of [UA.slack, UA.twitter, UA.google, UA.curl]) expect((await follow(link.slug, ua)).status).toBe(302);
    await t.services.clicks.flush();
    for (const ua of [UA.slack, UA.curl]) expect((await follow(link.slug, ua)).status).toBe(302);
    expect((await follow(link.slug, UA.chrome)).status).toBe(302);
    expect((await follow(link.slug, UA.chrome)).status).toBe(410);
    await t.services.clicks.flush();
    const stats = (await gql(t.app, STATS, { id: link.id }, { key })).body.data.linkStats;
    expect(stats).toMatchObject({ totalClicks: 1, botClicks: 6, link: { clicks: 1, botClicks: 6 } });
  });
});
