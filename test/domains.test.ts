import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
const zone = new Map<string, string[]>();
let key: string;
let workspaceId: string;

beforeAll(async () => {
  // verifyDomain reads DNS through this table: tests never touch the network.
  t = createTestApp(db(), {}, { txtResolver: async (name) => zone.get(name) ?? [] });
  const user = await makeUser();
  workspaceId = gid('Workspace', (await makeWorkspace(user))._id);
  key = (await makeKey(user)).secret;
});
afterAll(() => t.close());

const ADD = `mutation($i: AddDomainInput!) { addDomain(input: $i) {
  __typename
  ... on DomainPayload { domain { id hostname verified primary verification { type name value } } }
  ... on Error { code message }
  ... on ValidationError { field }
} }`;
const add = (hostname: string, extra: Record<string, unknown> = {}) => gql(t.app, ADD, { i: { workspaceId, hostname, ...extra } }, { key });

describe('domains', () => {
  it('adds a domain (lowercased) and tells which TXT record proves it', async () => {
    const result = await add('Go.Example.COM');
    expect(result.body.data.addDomain.domain).toMatchObject({
      hostname: 'go.example.com',
      verified: false,
      primary: false,
      verification: { type: 'TXT', name: '_taapit-verify.go.example.com', value: expect.stringMatching(/^taapit-verify=[0-9a-f]{32}$/) },
    });
  });

  it.each(['localhost', 'no_underscores.example.com', '-bad.example.com', '192.168.1.1', 'a..b.com', `${'a'.repeat(64)}.com`, 'example.123', 'tpt.test'])(
    'refuses the hostname %s and writes nothing',
    async (hostname) => {
      const before = await Domain.countDocuments();
      const result = await add(hostname);
      expect(result.body.data.addDomain).toMatchObject({ __typename: 'ValidationError', field: 'input.hostname', code: 'BAD_USER_INPUT' });
      expect(await Domain.countDocuments()).toBe(before);
    },
  );

  it('a hostname belongs to one workspace platform-wide', async () => {
    await add('taken.example.com');
    const other = await makeUser();
    const otherKey = (await makeKey(other)).secret;
    const otherWorkspace = gid('Workspace', (await makeWorkspace(other))._id);
    const result = await gql(t.app, ADD, { i: { workspaceId: otherWorkspace, hostname: 'TAKEN.example.com' } }, { key: otherKey });
    expect(result.body.data.addDomain).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    expect(await Domain.countDocuments({ hostname: 'taken.example.com' })).toBe(1);
  });

  it('verifies through the TXT resolver: refused until the record is published', async () => {
    const domain = (await add('verify.example.com')).body.data.addDomain.domain;
    const VERIFY = 'mutation($i: DomainIdInput!) { verifyDomain(input: $i) { __typename ... on DomainPayload { domain { verified } } ... on Error { code message } } }';
    const early = await gql(t.app, VERIFY, { i: { id: domain.id } }, { key });
    expect(early.body.data.verifyDomain).toMatchObject({ __typename: 'VerificationFailedError', code: 'VERIFICATION_FAILED' });
    expect(early.body.data.verifyDomain.message).toContain(domain.verification.name);
    zone.set(domain.verification.name, ['unrelated', domain.verification.value]);
    const ok = await gql(t.app, VERIFY, { i: { id: domain.id } }, { key });
    expect(ok.body.data.verifyDomain).toEqual({ __typename: 'DomainPayload', domain: { verified: true } });
  });

  it('one primary domain per workspace; only verified domains can be primary', async () => {
    const a = (await add('a.primary.example')).body.data.addDomain.domain;
    const b = (await add('b.primary.example')).body.data.addDomain.domain;
    const UPDATE = 'mutation($i: UpdateDomainInput!) { updateDomain(input: $i) { __typename ... on DomainPayload { domain { primary notFoundUrl } } ... on ValidationError { field } } }';
    expect((await gql(t.app, UPDATE, { i: { id: a.id, primary: true } }, { key })).body.data.updateDomain).toEqual({ __typename: 'ValidationError', field: 'input.primary' });
    await Domain.updateMany({ hostname: { $in: ['a.primary.example', 'b.primary.example'] } }, { verified: true });
    await gql(t.app, UPDATE, { i: { id: a.id, primary: true } }, { key });
    const second = await gql(t.app, UPDATE, { i: { id: b.id, primary: true, notFoundUrl: 'https://example.com/missing' } }, { key });
    expect(second.body.data.updateDomain.domain).toEqual({ primary: true, notFoundUrl: 'https://example.com/missing' });
    expect((await Domain.findOne({ hostname: 'a.primary.example' }).lean())!.primary).toBe(false);
    const badUrl = await gql(t.app, UPDATE, { i: { id: b.id, notFoundUrl: 'javascript:alert(1)' } }, { key });
    expect(badUrl.body.data.updateDomain).toEqual({ __typename: 'ValidationError', field: 'input.notFoundUrl' });
  });

  it('deleting a domain with links is refused unless its links are archived', async () => {
    const domain = (await add('busy.example.com')).body.data.addDomain.domain;
    await Domain.updateOne({ hostname: 'busy.example.com' }, { verified: true });
    const link = await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { id } } } }', { i: { workspaceId, url: 'https://x.example/', domain: 'busy.example.com', slug: 'keep' } }, { key });
    const DELETE = 'mutation($i: DeleteDomainInput!) { deleteDomain(input: $i) { __typename ... on Error { message } ... on DeletePayload { deletedId } } }';
    const refused = await gql(t.app, DELETE, { i: { id: domain.id } }, { key });
    expect(refused.body.data.deleteDomain.__typename).toBe('ConflictError');
    expect(refused.body.data.deleteDomain.message).toContain('archiveLinks: true');
    expect(await Domain.countDocuments({ hostname: 'busy.example.com' })).toBe(1);
    const done = await gql(t.app, DELETE, { i: { id: domain.id, archiveLinks: true } }, { key });
    expect(done.body.data.deleteDomain).toEqual({ __typename: 'DeletePayload', deletedId: domain.id });
    const archived = await gql(t.app, 'query($id: ID!) { link(id: $id) { archived hostname domain { id } } }', { id: link.body.data.createLink.link.id }, { key });
    expect(archived.body.data.link).toMatchObject({ archived: true, domain: null });
    expect(await Link.countDocuments({ domain: 'busy.example.com' })).toBe(0);
  });
  it('a not-found page may not point back at this platform (redirect loops)', async () => {
    const UPDATE = 'mutation($i: UpdateDomainInput!) { updateDomain(input: $i) { __typename ... on ValidationError { field message } } }';
    const self = await add('selfloop.example.com', { notFoundUrl: 'https://SelfLoop.example.com./missing' });
    expect(self.body.data.addDomain).toMatchObject({ __typename: 'ValidationError', field: 'input.notFoundUrl' });
    expect(await Domain.countDocuments({ hostname: 'selfloop.example.com' })).toBe(0);
    const short = await add('shortloop.example.com', { notFoundUrl: 'https://tpt.test/x' });
    expect(short.body.data.addDomain).toMatchObject({ __typename: 'ValidationError', field: 'input.notFoundUrl' });
    const first = (await add('loop-a.example.com')).body.data.addDomain.domain;
    await add('loop-b.example.com');
    const sibling = await gql(t.app, UPDATE, { i: { id: first.id, notFoundUrl: 'https://loop-b.example.com/' } }, { key });
    expect(sibling.body.data.updateDomain).toMatchObject({ __typename: 'ValidationError', field: 'input.notFoundUrl' });
    expect(sibling.body.data.updateDomain.message).toContain('redirect loop');
    const fine = await gql(t.app, UPDATE, { i: { id: first.id, notFoundUrl: 'https://www.example.org/' } }, { key });
    expect(fine.body.data.updateDomain.__typename).toBe('DomainPayload');
  });

  it('a host answered 404 while unverified serves its links as soon as it is verified (cache dropped)', async () => {
    const domain = (await add('soon.example.com', { notFoundUrl: 'https://www.example.org/404' })).body.data.addDomain.domain;
    const visit = () => t.app.fetch(new Request('http://soon.example.com/nothing-here'), { clientIp: '127.0.0.1' });
    expect((await visit()).status).toBe(404);
    zone.set(domain.verification.name, [domain.verification.value]);
    const VERIFY = 'mutation($i: DomainIdInput!) { verifyDomain(input: $i) { __typename } }';
    expect((await gql(t.app, VERIFY, { i: { id: domain.id } }, { key })).body.data.verifyDomain.__typename).toBe('DomainPayload');
    const after = await visit();
    expect(after.status).toBe(302);
    expect(after.headers.get('location')).toBe('https://www.example.org/404');
  });
});
