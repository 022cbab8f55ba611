import pino from 'pino';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateLinkSlugs, migratePlatformDomain } from '../src/db/migrations.ts';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { Slug } from '../src/models/slug.ts';
import { PLATFORM_DOMAIN } from '../src/rules/links.ts';
import { commandsDuring, createTestApp, gid, gql, LogCapture, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

// Every redirect lookup and every slug uniqueness check is one `{ _id }` operation on the slug
// registry (`_id` = "<domain>/<slug>"): on FerretDB any other filter scans the whole collection.

const { db, started } = useTestDatabase();
let t: TestApp;
let key: string;
let workspaceId: string;
let raw: Awaited<ReturnType<typeof makeWorkspace>>;
let userId: Types.ObjectId;

beforeAll(async () => {
  // No cache: every redirect reads the database.
  t = createTestApp(db(), { KEY_CACHE_TTL_MS: '0' });
  const user = await makeUser();
  userId = user._id;
  raw = await makeWorkspace(user);
  workspaceId = gid('Workspace', raw._id);
  key = (await makeKey(user)).secret;
});
afterAll(() => t.close());

/** The data commands `run` sends, with their bodies. */
const commandsOf = (run: () => Promise<unknown>) => commandsDuring(started, run);

const CREATE = 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on LinkPayload { link { id slug } } ... on ConflictError { field code } } }';
const UPDATE = 'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename ... on LinkPayload { link { slug } } ... on ConflictError { field code } } }';
const create = async (input: Record<string, unknown>) => (await gql(t.app, CREATE, { i: { workspaceId, url: 'https://example.com/', ...input } }, { key })).body.data.createLink;
const update = async (input: Record<string, unknown>) => (await gql(t.app, UPDATE, { i: input }, { key })).body.data.updateLink;
const redirect = async (path: string, host = 'tpt.test') => {
  const response = await t.app.fetch(new Request(`http://${host}${path}`));
  await response.arrayBuffer();
  return { status: response.status, location: response.headers.get('location') };
};

describe('an uncached redirect is primary-key reads only', () => {
  it('302: at most two finds, each with a filter of exactly { _id }', async () => {
    for (let i = 0; i < 5; i++) await create({ url: `https://example.com/other/${i}` });
    const link = (await create({ url: 'https://example.com/pk', slug: 'pk-read' })).link;
    let outcome: Awaited<ReturnType<typeof redirect>> | undefined;
    const commands = await commandsOf(async () => (outcome = await redirect('/pk-read')));
    expect(outcome).toEqual({ status: 302, location: 'https://example.com/pk' });
    const finds = commands.filter((c) => c.commandName === 'find');
    expect(commands.map((c) => c.commandName)).toEqual(finds.map(() => 'find'));
    expect(finds.length).toBeLessThanOrEqual(2);
    for (const { command } of finds) expect(Object.keys(command.filter)).toEqual(['_id']);
    expect(finds.map((c) => String(c.command.filter._id))).toEqual([`${PLATFORM_DOMAIN}/pk-read`, String((await Link.findOne({ slug: 'pk-read' }).lean())!._id)]);
    expect(link.slug).toBe('pk-read');
  });

  it('404: one find by { _id }', async () => {
    let outcome: Awaited<ReturnType<typeof redirect>> | undefined;
    const commands = await commandsOf(async () => (outcome = await redirect('/no-such-slug')));
    expect(outcome!.status).toBe(404);
    expect(commands.map((c) => [c.commandName, c.command.filter])).toEqual([['find', { _id: `${PLATFORM_DOMAIN}/no-such-slug` }]]);
  });

  it('updateLink with a new slug reads and writes links and slugs by { _id } only', async () => {
    const link = (await create({ slug: 'pk-upd' })).link;
    const commands = await commandsOf(() => update({ id: link.id, slug: 'pk-upd-2' }));
    const filters: Record<string, unknown>[] = [];
    for (const { commandName, command } of commands) {
      if (!['links', 'slugs'].includes(String(command[commandName]))) continue;
      if (command.filter) filters.push(command.filter);
      if (command.query) filters.push(command.query);
      for (const u of command.updates ?? []) filters.push(u.q);
      for (const d of command.deletes ?? []) filters.push(d.q);
    }
    expect(filters.length).toBeGreaterThan(0);
    // The link loader may read a list of ids ({ _id: { $in } }); nothing reads by domain and slug.
    for (const filter of filters) expect(Object.keys(filter)).toEqual(['_id']);
  });
});

describe('slug documents follow their links', () => {
  it('create, rename and delete keep exactly one slug document per link', async () => {
    const link = (await create({ slug: 'follow-a' })).link;
    const linkId = (await Link.findOne({ slug: 'follow-a' }).lean())!._id;
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/follow-a`).lean()).toMatchObject({ linkId, workspaceId: raw._id });
    expect((await update({ id: link.id, slug: 'follow-b' })).link.slug).toBe('follow-b');
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/follow-a`).lean()).toBeNull();
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/follow-b`).lean()).toMatchObject({ linkId });
    expect((await redirect('/follow-a')).status).toBe(404);
    expect((await redirect('/follow-b')).status).toBe(302);
    // The old slug is free again at once.
    expect((await create({ slug: 'follow-a' })).__typename).toBe('LinkPayload');
    const deleted = await gql(t.app, 'mutation($i: LinkIdInput!) { deleteLink(input: $i) { __typename } }', { i: { id: link.id } }, { key });
    expect(deleted.body.data.deleteLink.__typename).toBe('DeletePayload');
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/follow-b`).lean()).toBeNull();
    expect((await create({ slug: 'follow-b' })).__typename).toBe('LinkPayload');
  });

  it('a slug document pointing at a missing link, or at a link that moved, reads as no link', async () => {
    await Slug.create({ _id: `${PLATFORM_DOMAIN}/orphan`, linkId: new Types.ObjectId(), workspaceId: raw._id });
    expect((await redirect('/orphan')).status).toBe(404);
    await create({ slug: 'moved-away', url: 'https://example.com/moved' });
    const moved = await Link.findOne({ slug: 'moved-away' }).lean();
    await Slug.create({ _id: `${PLATFORM_DOMAIN}/stale`, linkId: moved!._id, workspaceId: raw._id });
    expect((await redirect('/stale')).status).toBe(404);
  });

  it('a stale slug document left by an interrupted write frees its slug once it is old enough', async () => {
    const old = new Date(Date.now() - 10 * 60_000);
    await Slug.create({ _id: `${PLATFORM_DOMAIN}/left-over`, linkId: new Types.ObjectId(), workspaceId: raw._id, createdAt: old });
    expect((await create({ slug: 'left-over' })).__typename).toBe('LinkPayload');
    expect((await redirect('/left-over')).status).toBe(302);
    // A fresh one may be a create in flight: the slug stays taken.
    await Slug.create({ _id: `${PLATFORM_DOMAIN}/in-flight`, linkId: new Types.ObjectId(), workspaceId: raw._id });
    expect(await create({ slug: 'in-flight' })).toEqual({ __typename: 'ConflictError', field: 'input.slug', code: 'CONFLICT' });
  });

  it('a link insert that fails leaves no slug document behind', async () => {
    // A link stored without its slug document (before the migration): the link's own unique index refuses the copy.
    await Link.collection.insertOne({ workspaceId: raw._id, domain: PLATFORM_DOMAIN, slug: 'unmigrated', url: 'https://example.com/u', tags: [], archived: false, clicks: 0, createdByUserId: userId });
    expect(await create({ slug: 'unmigrated' })).toEqual({ __typename: 'ConflictError', field: 'input.slug', code: 'CONFLICT' });
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/unmigrated`).lean()).toBeNull();
    await Link.deleteOne({ slug: 'unmigrated' });
  });

  it('deleting a domain with archiveLinks moves the slug documents off the hostname', async () => {
    const domain = await Domain.create({ workspaceId: raw._id, hostname: 'go.slugs.example', verified: true, verificationToken: 'x' });
    expect((await create({ slug: 'on-domain', domain: 'go.slugs.example' })).__typename).toBe('LinkPayload');
    expect((await redirect('/on-domain', 'go.slugs.example')).status).toBe(302);
    const result = await gql(
      t.app,
      'mutation($i: DeleteDomainInput!) { deleteDomain(input: $i) { __typename } }',
      { i: { id: gid('Domain', domain._id), archiveLinks: true } },
      { key },
    );
    expect(result.body.data.deleteDomain.__typename).toBe('DeletePayload');
    expect(await Slug.findById('go.slugs.example/on-domain').lean()).toBeNull();
    expect(await Slug.findById(`go.slugs.example#deleted-${domain._id}/on-domain`).lean()).not.toBeNull();
    // The hostname starts clean for its next owner.
    await Domain.create({ workspaceId: raw._id, hostname: 'go.slugs.example', verified: true, verificationToken: 'y' });
    expect((await create({ slug: 'on-domain', domain: 'go.slugs.example' })).__typename).toBe('LinkPayload');
  });

  it('deleting a workspace deletes its slug documents', async () => {
    const user = await makeUser();
    const other = await makeWorkspace(user);
    const otherKey = (await makeKey(user)).secret;
    const made = await gql(t.app, CREATE, { i: { workspaceId: gid('Workspace', other._id), url: 'https://example.com/', slug: 'ws-gone' } }, { key: otherKey });
    expect(made.body.data.createLink.__typename).toBe('LinkPayload');
    expect(await Slug.countDocuments({ workspaceId: other._id })).toBe(1);
    const deleted = await gql(t.app, 'mutation($i: WorkspaceIdInput!) { deleteWorkspace(input: $i) { __typename } }', { i: { id: gid('Workspace', other._id) } }, { key: otherKey });
    expect(deleted.body.data.deleteWorkspace.__typename).toBe('DeletePayload');
    expect(await Slug.countDocuments({ workspaceId: other._id })).toBe(0);
  });
});

describe('concurrent writes of one slug', () => {
  it('five concurrent createLink with the same custom slug make exactly one link', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => create({ slug: 'race', url: `https://example.com/race/${i}` })));
    expect(results.filter((r) => r.__typename === 'LinkPayload')).toHaveLength(1);
    expect(results.filter((r) => r.__typename !== 'LinkPayload')).toEqual(Array(4).fill({ __typename: 'ConflictError', field: 'input.slug', code: 'CONFLICT' }));
    expect(await Link.countDocuments({ domain: PLATFORM_DOMAIN, slug: 'race' })).toBe(1);
    expect(await Slug.countDocuments({ _id: `${PLATFORM_DOMAIN}/race` })).toBe(1);
  });

  it('two concurrent renames to the same slug: one wins, the other gets CONFLICT', async () => {
    const a = (await create({ slug: 'ren-a', url: 'https://example.com/a' })).link;
    const b = (await create({ slug: 'ren-b', url: 'https://example.com/b' })).link;
    const results = await Promise.all([update({ id: a.id, slug: 'ren-same' }), update({ id: b.id, slug: 'ren-same' })]);
    const won = results.findIndex((r) => r.__typename === 'LinkPayload');
    expect(won).toBeGreaterThanOrEqual(0);
    expect(results[1 - won]).toEqual({ __typename: 'ConflictError', field: 'input.slug', code: 'CONFLICT' });
    expect((await redirect('/ren-same')).location).toBe(won === 0 ? 'https://example.com/a' : 'https://example.com/b');
    // The loser keeps its slug.
    expect((await redirect(won === 0 ? '/ren-b' : '/ren-a')).status).toBe(302);
    expect(await Link.countDocuments({ slug: 'ren-same' })).toBe(1);
  });
});

describe('migration of links stored without slug documents', () => {
  it('creates the missing slug documents once, logged; redirects work after it', async () => {
    await Link.collection.insertOne({ workspaceId: raw._id, domain: 'tpt.test', slug: 'legacy', url: 'https://example.com/legacy', tags: [], archived: false, clicks: 0, createdByUserId: userId });
    expect((await redirect('/legacy')).status).toBe(404);
    const capture = new LogCapture();
    const logger = pino({ level: 'info' }, capture);
    expect(await migrateLinkSlugs(logger, { force: true })).toBeGreaterThanOrEqual(1);
    expect(await migrateLinkSlugs(logger)).toBe(0); // recorded: nothing to do
    expect(await migrateLinkSlugs(logger, { force: true })).toBe(0); // idempotent even when forced
    // Written when the platform host was stored literally: the next migration moves it to the marker.
    expect(await migratePlatformDomain(logger, { force: true, shortDomain: 'tpt.test' })).toBe(1);
    expect(capture.lines.some((line) => /slug documents/.test(line))).toBe(true);
    expect(await redirect('/legacy')).toEqual({ status: 302, location: 'https://example.com/legacy' });
    for (const link of await Link.find().lean()) expect(await Slug.findById(`${link.domain}/${link.slug}`).lean()).toMatchObject({ linkId: link._id });
  });
});
