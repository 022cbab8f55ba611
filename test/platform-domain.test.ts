import pino from 'pino';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratePlatformDomain } from '../src/db/migrations.ts';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { Slug } from '../src/models/slug.ts';
import { PLATFORM_DOMAIN } from '../src/rules/links.ts';
import { createTestApp, gid, gql, LogCapture, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

// Links on the platform's own short domain store a marker, not the host: the platform domain is
// whatever SHORT_DOMAIN (or PORT) says today, and its links follow it.

const { db } = useTestDatabase();
const apps: TestApp[] = [];
let key: string;
let workspace: { _id: Types.ObjectId };
let userId: Types.ObjectId;

beforeAll(async () => {
  const user = await makeUser('platform');
  userId = user._id;
  workspace = await makeWorkspace(user, 'w');
  key = (await makeKey(user)).secret;
});
afterAll(async () => {
  for (const app of apps) await app.close();
});

/** A new app over the same database, as after a restart with other settings. */
const start = (env: Record<string, string>) => {
  const app = createTestApp(db(), env);
  apps.push(app);
  return app;
};

const CREATE =
  'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on LinkPayload { link { id hostname shortUrl domain { hostname } } } ... on ConflictError { field message } ... on ValidationError { field message } } }';
const create = (t: TestApp, input: Record<string, unknown>) =>
  gql(t.app, CREATE, { i: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.com/', ...input } }, { key });

const get = async (t: TestApp, url: string) => {
  const response = await t.app.fetch(new Request(url, { redirect: 'manual' }));
  return { status: response.status, location: response.headers.get('location') };
};

describe('platform links follow SHORT_DOMAIN', () => {
  it('a link made on localhost:4000 still redirects, and its slug is still taken, after a restart on PORT 5000 or a rebrand', async () => {
    const first = start({ SHORT_DOMAIN: '', PORT: '4000' });
    const made = await create(first, { url: 'https://example.com/moved', slug: 'follows' });
    expect(made.body.data.createLink).toMatchObject({ __typename: 'LinkPayload', link: { hostname: 'localhost:4000', shortUrl: 'http://localhost:4000/follows', domain: null } });
    expect((await Link.findOne({ slug: 'follows' }).lean())?.domain).toBe(PLATFORM_DOMAIN);
    expect(await Slug.exists({ _id: `${PLATFORM_DOMAIN}/follows` })).not.toBeNull();

    const moved = start({ SHORT_DOMAIN: '', PORT: '5000' });
    for (const base of ['http://localhost:5000', 'http://127.0.0.1:5000']) {
      expect(await get(moved, `${base}/follows`)).toEqual({ status: 302, location: 'https://example.com/moved' });
    }
    // The old port is not the platform's any more.
    expect((await get(moved, 'http://localhost:4000/follows')).status).toBe(404);
    const again = await create(moved, { slug: 'follows' });
    expect(again.body.data.createLink).toMatchObject({ __typename: 'ConflictError', field: 'input.slug' });
    expect(again.body.data.createLink.message).toContain('localhost:5000');

    const rebranded = start({ SHORT_DOMAIN: 'brand.test' });
    expect(await get(rebranded, 'https://brand.test/follows')).toEqual({ status: 302, location: 'https://example.com/moved' });
    expect((await create(rebranded, { slug: 'follows' })).body.data.createLink.__typename).toBe('ConflictError');
    const shown = await gql(rebranded.app, 'query($id: ID!) { link(id: $id) { hostname shortUrl domain { hostname } } }', { id: made.body.data.createLink.link.id }, { key });
    expect(shown.body.data.link).toEqual({ hostname: 'brand.test', shortUrl: 'https://brand.test/follows', domain: null });
  });

  it('the domain input accepts the current short domain (and its loopback spellings) and never the marker', async () => {
    const t = start({ SHORT_DOMAIN: '', PORT: '4000' });
    for (const [domain, slug] of [['localhost:4000', 'explicit'], ['127.0.0.1:4000', 'loopback'], ['LOCALHOST:4000', 'upper']]) {
      const made = await create(t, { domain, slug });
      expect(made.body.data.createLink).toMatchObject({ __typename: 'LinkPayload', link: { hostname: 'localhost:4000', domain: null } });
      expect((await Link.findOne({ slug }).lean())?.domain).toBe(PLATFORM_DOMAIN);
    }
    const marker = await create(t, { domain: PLATFORM_DOMAIN, slug: 'marker' });
    expect(marker.body.data.createLink).toMatchObject({ __typename: 'ValidationError', field: 'input.domain' });
  });

  it('filter.domain takes the current short domain, and hostname and shortUrl show it', async () => {
    const t = start({ SHORT_DOMAIN: 'list.test' });
    await create(t, { slug: 'listed' });
    const LIST = 'query($w: ID, $d: String) { links(workspaceId: $w, first: 50, filter: { domain: $d }) { edges { node { slug hostname shortUrl } } } }';
    const list = async (d: string) =>
      (await gql(t.app, LIST, { w: gid('Workspace', workspace._id), d }, { key })).body.data.links.edges.map((e: any) => e.node);
    const platform = await list('List.Test');
    expect(platform).toContainEqual({ slug: 'listed', hostname: 'list.test', shortUrl: 'https://list.test/listed' });
    // Every platform link of the workspace, whatever the short domain was when it was made.
    expect(platform.map((n: any) => n.slug)).toEqual(expect.arrayContaining(['follows', 'explicit']));
    expect(platform.every((n: any) => n.hostname === 'list.test')).toBe(true);
    expect(await list('localhost:4000')).toEqual([]);
    expect(await list(PLATFORM_DOMAIN)).toEqual([]);
  });

  it('a custom domain can never be the marker', async () => {
    const t = start({});
    const added = await gql(
      t.app,
      'mutation($i: AddDomainInput!) { addDomain(input: $i) { __typename ... on ValidationError { field } } }',
      { i: { workspaceId: gid('Workspace', workspace._id), hostname: PLATFORM_DOMAIN } },
      { key },
    );
    expect(added.body.data.addDomain).toEqual({ __typename: 'ValidationError', field: 'input.hostname' });
  });
});

describe('the platform-domain migration', () => {
  /** A link document as earlier versions wrote it, with its slug document "<host>/<slug>". */
  const legacy = async (domain: string, slug: string, extra: Record<string, unknown> = {}) => {
    const _id = new Types.ObjectId();
    await Link.collection.insertOne({ _id, workspaceId: workspace._id, domain, slug, url: `https://example.com/${slug}`, tags: [], archived: false, clicks: 0, createdByUserId: userId, createdAt: new Date(), updatedAt: new Date(2020, 0, 1), ...extra });
    await Slug.collection.insertOne({ _id: `${domain}/${slug}` as any, linkId: _id, workspaceId: workspace._id, createdAt: new Date() });
    return _id;
  };

  it('moves links of any former platform domain to the marker, leaves custom ones, is idempotent, and they redirect', async () => {
    const t = start({ SHORT_DOMAIN: 'now.test' });
    await Domain.create({ workspaceId: workspace._id, hostname: 'go.custom.example', verified: true, verificationToken: 'x' });
    const oldPort = await legacy('localhost:4000', 'm-port');
    const oldBrand = await legacy('old.test', 'm-brand');
    const current = await legacy('now.test', 'm-clash');
    const clashing = await legacy('localhost:4000', 'm-clash'); // the same slug on a former platform host
    const custom = await legacy('go.custom.example', 'm-custom');
    const deleted = await legacy('gone.example#deleted-1', 'm-deleted', { archived: true });

    const capture = new LogCapture();
    const logger = pino({ level: 'info' }, capture);
    const moved = await migratePlatformDomain(logger, { force: true, shortDomain: 'now.test' });
    expect(moved).toBe(3);
    const domainOf = async (id: Types.ObjectId) => (await Link.findById(id).lean())?.domain;
    expect(await domainOf(oldPort)).toBe(PLATFORM_DOMAIN);
    expect(await domainOf(oldBrand)).toBe(PLATFORM_DOMAIN);
    expect(await domainOf(current)).toBe(PLATFORM_DOMAIN);
    // The link that answered on the current short domain keeps the slug; the other one was a 404 already and stays as it was.
    expect(await domainOf(clashing)).toBe('localhost:4000');
    expect(await domainOf(custom)).toBe('go.custom.example');
    expect(await domainOf(deleted)).toBe('gone.example#deleted-1');
    // Not a change by anyone: updatedAt stays.
    expect((await Link.findById(oldPort).lean())?.updatedAt).toEqual(new Date(2020, 0, 1));
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/m-port`).lean()).toMatchObject({ linkId: oldPort });
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/m-clash`).lean()).toMatchObject({ linkId: current });
    for (const gone of ['localhost:4000/m-port', 'old.test/m-brand', 'now.test/m-clash']) expect(await Slug.exists({ _id: gone })).toBeNull();
    for (const kept of ['localhost:4000/m-clash', 'go.custom.example/m-custom', 'gone.example#deleted-1/m-deleted']) expect(await Slug.exists({ _id: kept })).not.toBeNull();
    const log = capture.lines.map((line) => JSON.parse(line)).find((line) => line.msg === 'links on the platform domain follow SHORT_DOMAIN');
    expect(log).toMatchObject({ links: expect.any(Number), moved: 3, clashes: 1 });

    expect(await migratePlatformDomain(logger)).toBe(0); // recorded
    expect(await migratePlatformDomain(logger, { force: true, shortDomain: 'now.test' })).toBe(0); // idempotent
    expect(await Link.countDocuments({ domain: PLATFORM_DOMAIN, slug: { $in: ['m-port', 'm-brand', 'm-clash'] } })).toBe(3);

    t.services.linkCache.clear();
    expect(await get(t, 'https://now.test/m-port')).toEqual({ status: 302, location: 'https://example.com/m-port' });
    expect(await get(t, 'https://now.test/m-brand')).toEqual({ status: 302, location: 'https://example.com/m-brand' });
    expect(await get(t, 'https://now.test/m-clash')).toEqual({ status: 302, location: 'https://example.com/m-clash' });
    expect((await create(t, { slug: 'm-brand' })).body.data.createLink.__typename).toBe('ConflictError');
  });

  it('a run cut short (slug documents written, links not yet moved) finishes when run again', async () => {
    const a = await legacy('localhost:4000', 'r-one');
    const b = await legacy('localhost:4000', 'r-two');
    // What the first steps of an interrupted run leave: the new slug documents, one link moved, the old slug documents still there.
    await Slug.collection.insertMany([
      { _id: `${PLATFORM_DOMAIN}/r-one` as any, linkId: a, workspaceId: workspace._id, createdAt: new Date() },
      { _id: `${PLATFORM_DOMAIN}/r-two` as any, linkId: b, workspaceId: workspace._id, createdAt: new Date() },
    ]);
    await Link.collection.updateOne({ _id: a }, { $set: { domain: PLATFORM_DOMAIN } });
    const logger = pino({ level: 'silent' });
    expect(await migratePlatformDomain(logger, { force: true, shortDomain: 'now.test' })).toBe(1);
    expect((await Link.findById(b).lean())?.domain).toBe(PLATFORM_DOMAIN);
    expect(await Slug.exists({ _id: 'localhost:4000/r-one' })).toBeNull();
    expect(await Slug.exists({ _id: 'localhost:4000/r-two' })).toBeNull();
    expect(await migratePlatformDomain(logger, { force: true, shortDomain: 'now.test' })).toBe(0);
  });
});
