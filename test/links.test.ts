import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Types } from 'mongoose';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { Slug } from '../src/models/slug.ts';
import { PLATFORM_DOMAIN } from '../src/rules/links.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
let key: string;
let workspaceId: string;
let raw: Awaited<ReturnType<typeof makeWorkspace>>;

beforeAll(async () => {
  t = createTestApp(db());
  const user = await makeUser();
  raw = await makeWorkspace(user);
  workspaceId = gid('Workspace', raw._id);
  key = (await makeKey(user)).secret;
});
afterAll(() => t.close());

const CREATE = `mutation($input: CreateLinkInput!) {
  createLink(input: $input) {
    __typename
    ... on LinkPayload { link { id slug url shortUrl hostname domain { hostname } title tags utm { source campaign } project { name } createdBy { email } maxClicks archived clicks } }
    ... on ValidationError { field message code }
    ... on ConflictError { field message code }
  }
}`;

const create = (input: Record<string, unknown>) => gql(t.app, CREATE, { input: { workspaceId, ...input } }, { key });

describe('createLink', () => {
  it('generates a 7-character base62 slug on the platform domain and returns every field', async () => {
    const result = await create({ url: 'https://example.com/a?b=1', title: 'A', tags: ['x', 'y', 'x'], utm: { source: 'news', campaign: 'spring' }, maxClicks: 5 });
    const link = result.body.data.createLink.link;
    expect(link.slug).toMatch(/^[0-9A-Za-z]{7}$/);
    expect(link).toMatchObject({
      url: 'https://example.com/a?b=1',
      shortUrl: `https://tpt.test/${link.slug}`,
      hostname: 'tpt.test',
      domain: null,
      title: 'A',
      tags: ['x', 'y'],
      utm: { source: 'news', campaign: 'spring' },
      maxClicks: 5,
      archived: false,
      clicks: 0,
    });
    expect(link.createdBy.email).toContain('@example.com');
  });

  it('accepts a custom case-sensitive slug, unique per domain', async () => {
    expect((await create({ url: 'https://example.com/', slug: 'Promo' })).body.data.createLink.link.slug).toBe('Promo');
    expect((await create({ url: 'https://example.com/', slug: 'promo' })).body.data.createLink.link.slug).toBe('promo');
    const duplicate = await create({ url: 'https://example.com/other', slug: 'Promo' });
    expect(duplicate.body.data.createLink).toMatchObject({ __typename: 'ConflictError', field: 'input.slug', code: 'CONFLICT' });
    expect(await Link.countDocuments({ slug: 'Promo' })).toBe(1);
  });

  it.each([
    ['javascript: URL', { url: 'javascript:alert(1)' }, 'input.url', /only http and https/],
    ['data: URL', { url: 'data:text/html,<b>x</b>' }, 'input.url', /only http and https/],
    ['relative URL', { url: '/just/a/path' }, 'input.url', /not an absolute URL/],
    ['over-long URL', { url: `https://example.com/${'a'.repeat(2100)}` }, 'input.url', /at most 2048/],
    ['URL over-long once percent-encoded (1000 × é)', { url: `https://example.com/${'é'.repeat(1000)}` }, 'input.url', /6020 characters long once encoded.*at most 2048/],
    ['slug with a space', { url: 'https://example.com/', slug: 'a b' }, 'input.slug', /1 to 64 characters/],
    ['slug too long', { url: 'https://example.com/', slug: 'a'.repeat(65) }, 'input.slug', /1 to 64/],
    ['reserved slug graphql', { url: 'https://example.com/', slug: 'graphql' }, 'input.slug', /reserved/],
    ['reserved slug HEALTHZ', { url: 'https://example.com/', slug: 'HEALTHZ' }, 'input.slug', /reserved/],
    ['past expiry', { url: 'https://example.com/', expiresAt: '2001-01-01T00:00:00Z' }, 'input.expiresAt', /future/],
    ['zero maxClicks', { url: 'https://example.com/', maxClicks: 0 }, 'input.maxClicks', /whole number/],
    ['unknown domain', { url: 'https://example.com/', domain: 'nope.example.net' }, 'input.domain', /not a domain of this workspace/],
    ['project id of nothing', { url: 'https://example.com/', projectId: gid('Project', '0123456789abcdef01234567') }, 'input.projectId', /no such project/],
  ])('refuses a %s with a typed error and writes nothing', async (_name, input, field, message) => {
    const before = await Link.countDocuments();
    const result = await create(input);
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.createLink).toMatchObject({ __typename: 'ValidationError', field, code: 'BAD_USER_INPUT' });
    expect(result.body.data.createLink.message).toMatch(message);
    expect(await Link.countDocuments()).toBe(before);
  });

  it('uses an unverified domain only after verification, and the primary domain by default', async () => {
    await Domain.create({ workspaceId: raw._id, hostname: 'go.acme.test', verificationToken: 'x' });
    const early = await create({ url: 'https://example.com/', domain: 'go.acme.test' });
    expect(early.body.data.createLink).toMatchObject({ __typename: 'ValidationError', field: 'input.domain' });
    expect(early.body.data.createLink.message).toContain('not verified');
    await Domain.updateOne({ hostname: 'go.acme.test' }, { verified: true, primary: true });
    const onPrimary = await create({ url: 'https://example.com/' });
    expect(onPrimary.body.data.createLink.link).toMatchObject({ hostname: 'go.acme.test', domain: { hostname: 'go.acme.test' } });
    expect(onPrimary.body.data.createLink.link.shortUrl).toMatch(/^https:\/\/go\.acme\.test\/[0-9A-Za-z]{7}$/);
    await Domain.updateOne({ hostname: 'go.acme.test' }, { primary: false });
  });
});

describe('links query', () => {
  let projectId: string;
  beforeAll(async () => {
    const p = await gql(t.app, 'mutation($i: CreateProjectInput!) { createProject(input: $i) { ... on ProjectPayload { project { id } } } }', { i: { workspaceId, name: 'Launch', color: '#FFAA00' } }, { key });
    projectId = p.body.data.createProject.project.id;
    await create({ url: 'https://shop.example/launch', slug: 'launch-1', title: 'Launch day', tags: ['launch'], projectId });
    await create({ url: 'https://shop.example/other', slug: 'launch-2', tags: ['launch', 'b'], projectId });
    const archived = await create({ url: 'https://old.example/', slug: 'old-one' });
    await gql(t.app, 'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename } }', { i: { id: archived.body.data.createLink.link.id, archived: true } }, { key });
    await Link.updateOne({ slug: 'launch-2' }, { clicks: 42 });
  });

  const slugs = async (args: string, variables: Record<string, unknown> = {}) => {
    const declared = ['$w: ID', args.includes('$p') ? '$p: ID' : '', args.includes('$after') ? '$after: DateTime' : ''].filter(Boolean).join(', ');
    const result = await gql(t.app, `query(${declared}) { links(workspaceId: $w, first: 100, ${args}) { totalCount edges { node { slug } } } }`, { w: workspaceId, ...(args.includes('$p') ? { p: projectId } : {}), ...variables }, { key });
    expect(result.body.errors).toBeUndefined();
    return result.body.data.links.edges.map((e: { node: { slug: string } }) => e.node.slug);
  };

  it('filters by project, tag, search, domain, archived and created range', async () => {
    expect((await slugs('filter: { projectId: $p }')).sort()).toEqual(['launch-1', 'launch-2']);
    expect(await slugs('filter: { tag: "b" }')).toEqual(['launch-2']);
    expect(await slugs('filter: { search: "LAUNCH DAY" }')).toEqual(['launch-1']);
    expect(await slugs('filter: { search: "shop.example/oth" }')).toEqual(['launch-2']);
    expect(await slugs('filter: { search: ".*" }')).toEqual([]); // regex characters are literal
    expect(await slugs('filter: { archived: true }')).toEqual(['old-one']);
    expect(await slugs('filter: { domain: "go.acme.test" }')).toHaveLength(1);
    expect(await slugs('filter: { createdAfter: $after }', { after: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
  });

  it('orders by clicks, created and updated', async () => {
    expect((await slugs('orderBy: { field: CLICKS, direction: DESC }'))[0]).toBe('launch-2');
    expect((await slugs('orderBy: { field: CLICKS, direction: ASC }')).at(-1)).toBe('launch-2');
    const created = await slugs('orderBy: { field: CREATED_AT, direction: ASC }');
    expect(created.indexOf('launch-1')).toBeLessThan(created.indexOf('launch-2'));
  });

  it('pages with cursors and refuses first over 100', async () => {
    const page1 = await gql(t.app, 'query($w: ID) { links(workspaceId: $w, first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { slug } } } }', { w: workspaceId }, { key });
    const { totalCount, pageInfo } = page1.body.data.links;
    expect(totalCount).toBeGreaterThan(2);
    expect(pageInfo.hasNextPage).toBe(true);
    const page2 = await gql(t.app, 'query($w: ID, $a: String) { links(workspaceId: $w, first: 2, after: $a) { edges { node { slug } } } }', { w: workspaceId, a: pageInfo.endCursor }, { key });
    const seen = [...page1.body.data.links.edges, ...page2.body.data.links.edges].map((e: { node: { slug: string } }) => e.node.slug);
    expect(new Set(seen).size).toBe(seen.length);
    const tooMany = await gql(t.app, '{ links(first: 101) { totalCount } }', {}, { key });
    expect(tooMany.body.errors?.[0]).toMatchObject({ message: expect.stringContaining('"first" must be between 0 and 100'), extensions: { code: 'BAD_USER_INPUT' } });
    const badCursor = await gql(t.app, '{ links(first: 1, after: "garbage") { totalCount } }', {}, { key });
    expect(badCursor.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('project.links lists the project’s links', async () => {
    const result = await gql(t.app, 'query($id: ID!) { node(id: $id) { ... on Project { name color links { totalCount } } } }', { id: projectId }, { key });
    expect(result.body.data.node).toEqual({ name: 'Launch', color: '#ffaa00', links: { totalCount: 2 } });
  });
});

describe('updateLink and deleteLink', () => {
  it('changes fields, clears optional ones, refuses a taken slug and writes nothing then', async () => {
    const a = (await create({ url: 'https://a.example/', slug: 'upd-a', title: 'T', maxClicks: 3 })).body.data.createLink.link;
    await create({ url: 'https://b.example/', slug: 'upd-b' });
    const UPDATE = 'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename ... on LinkPayload { link { slug url title maxClicks tags } } ... on ConflictError { field } ... on ValidationError { field } } }';
    const changed = await gql(t.app, UPDATE, { i: { id: a.id, url: 'https://a2.example/', title: null, maxClicks: null, tags: ['new'] } }, { key });
    expect(changed.body.data.updateLink.link).toEqual({ slug: 'upd-a', url: 'https://a2.example/', title: null, maxClicks: null, tags: ['new'] });
    const taken = await gql(t.app, UPDATE, { i: { id: a.id, slug: 'upd-b', url: 'https://never.example/' } }, { key });
    expect(taken.body.data.updateLink).toEqual({ __typename: 'ConflictError', field: 'input.slug' });
    expect((await Link.findOne({ slug: 'upd-a' }).lean())!.url).toBe('https://a2.example/');
    // The taken slug still points at its own link, and the refused one kept its slug document.
    expect(String((await Slug.findById(`${PLATFORM_DOMAIN}/upd-b`).lean())!.linkId)).toBe(String((await Link.findOne({ slug: 'upd-b' }).lean())!._id));
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/upd-a`).lean()).not.toBeNull();
    const bad = await gql(t.app, UPDATE, { i: { id: a.id, url: 'ftp://x.example/' } }, { key });
    expect(bad.body.data.updateLink).toEqual({ __typename: 'ValidationError', field: 'input.url' });
  });

  it('deletes a link', async () => {
    const a = (await create({ url: 'https://a.example/', slug: 'del-a' })).body.data.createLink.link;
    const result = await gql(t.app, 'mutation($i: LinkIdInput!) { deleteLink(input: $i) { ... on DeletePayload { deletedId } } }', { i: { id: a.id } }, { key });
    expect(result.body.data.deleteLink.deletedId).toBe(a.id);
    expect(await Link.countDocuments({ slug: 'del-a' })).toBe(0);
    expect(await Slug.findById(`${PLATFORM_DOMAIN}/del-a`).lean()).toBeNull();
  });
});

describe('destinations that point back at this platform', () => {
  const UPDATE = 'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename ... on LinkPayload { link { url } } ... on ValidationError { field message } } }';
  beforeAll(async () => {
    await Domain.create({ workspaceId: new Types.ObjectId(), hostname: 'go.other.example', verified: true, verificationToken: 'x' });
    await Domain.create({ workspaceId: new Types.ObjectId(), hostname: 'claimed.other.example', verificationToken: 'x' });
    await Domain.create({ workspaceId: raw._id, hostname: 'mine.unverified.example', verificationToken: 'x' });
    await Domain.create({ workspaceId: new Types.ObjectId(), hostname: 'xn--bcher-kva.example', verified: true, verificationToken: 'x' });
  });

  it.each([
    ['the platform short domain', 'https://tpt.test/abc', /tpt\.test is this platform's short domain/],
    ['the platform domain, any case, trailing dot, other port', 'http://TPT.Test.:8080/abc', /tpt\.test is this platform's short domain/],
    ["another workspace's verified domain", 'https://go.other.example/x?y=1', /go\.other\.example is a short-link domain on this platform/],
    ['a verified domain spelled in Unicode', 'https://BÜCHER.example/', /xn--bcher-kva\.example is a short-link domain on this platform/],
    ["this workspace's own unverified domain", 'https://Mine.Unverified.Example./', /mine\.unverified\.example is a short-link domain on this platform/],
  ])('refuses %s on createLink and updateLink, and writes nothing', async (_name, url, message) => {
    const before = await Link.countDocuments();
    const created = await create({ url });
    expect(created.body.data.createLink).toMatchObject({ __typename: 'ValidationError', field: 'input.url', code: 'BAD_USER_INPUT' });
    expect(created.body.data.createLink.message).toMatch(message);
    expect(created.body.data.createLink.message).toMatch(/redirect loop/);
    expect(await Link.countDocuments()).toBe(before);

    const link = (await create({ url: 'https://fine.example/' })).body.data.createLink.link;
    const updated = await gql(t.app, UPDATE, { i: { id: link.id, url } }, { key });
    expect(updated.body.data.updateLink).toMatchObject({ __typename: 'ValidationError', field: 'input.url', message: expect.stringMatching(message) });
    expect((await Link.findOne({ slug: link.slug }).lean())!.url).toBe('https://fine.example/');
  });

  it("accepts a hostname another workspace only claimed (unverified): a claim must not block others' links", async () => {
    expect((await create({ url: 'https://claimed.other.example/page' })).body.data.createLink.link.url).toBe('https://claimed.other.example/page');
  });

  it('with a localhost short domain, refuses its loopback spellings on the same port only', async () => {
    const local = createTestApp(db(), { SHORT_DOMAIN: 'localhost:4000' });
    try {
      const createOn = (url: string) => gql(local.app, CREATE, { input: { workspaceId, url } }, { key });
      for (const url of ['http://localhost:4000/a', 'http://127.0.0.1:4000/a', 'http://127.1:4000/a', 'http://[::1]:4000/a', 'http://LOCALHOST.:4000/a', 'http://0.0.0.0:4000/a']) {
        const result = await createOn(url);
        expect(result.body.data.createLink, url).toMatchObject({ __typename: 'ValidationError', field: 'input.url' });
        expect(result.body.data.createLink.message).toContain("localhost:4000 is this platform's short domain");
      }
      for (const url of ['http://localhost:3000/a', 'http://127.0.0.1/a', 'https://localhost/a']) {
        expect((await createOn(url)).body.data.createLink.__typename, url).toBe('LinkPayload');
      }
    } finally {
      await local.close();
    }
  });
});
