import fc from 'fast-check';
import { isInterfaceType, isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import type { Permission, Role, Scope } from '../src/rules/permissions.ts';
import { schema } from '../src/schema/index.ts';
import { createTestApp, gql, gid, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';
import { OPERATIONS } from './operations.ts';
import { makeTarget, publishedZone } from './world.ts';

const { db } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  t = createTestApp(db(), {}, { txtResolver: publishedZone });
});
afterAll(() => t.close());

const AUTHORIZE = `query($input: AuthorizeInput!) {
  authorize(input: $input) { allowed requiredPermissions missingPermissions cost problems { path rule permission reason message conditional } }
}`;

async function authorize(key: string, query: string, variables?: Record<string, unknown>, operationName?: string) {
  const result = await gql(t.app, AUTHORIZE, { input: { query, variables, operationName } }, { key });
  return result;
}

async function check(key: string, query: string, variables?: Record<string, unknown>, operationName?: string) {
  const result = await authorize(key, query, variables, operationName);
  expect(result.body.errors).toBeUndefined();
  return result.body.data.authorize as {
    allowed: boolean;
    requiredPermissions: string[];
    missingPermissions: string[];
    cost: number;
    problems: { path: string; rule: string; permission: string | null; reason: string | null; message: string; conditional: boolean }[];
  };
}

const CREATE_LINK = `mutation($input: CreateLinkInput!) { createLink(input: $input) { __typename ... on LinkPayload { link { id slug } } ... on Error { code message } } }`;

describe('Query.authorize', () => {
  it('tells a READ_ONLY key that a mutation needs links:write, with the path', async () => {
    const alice = await makeUser('alice');
    const workspace = await makeWorkspace(alice);
    const key = await makeKey(alice, 'READ_ONLY');
    const answer = await check(key.secret, CREATE_LINK, { input: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.org/' } });
    expect(answer.allowed).toBe(false);
    expect(answer.missingPermissions).toEqual(['links:write']);
    expect(answer.requiredPermissions).toContain('links:write');
    expect(answer.problems[0]).toMatchObject({ path: 'createLink', rule: 'Mutation.createLink', permission: 'links:write', reason: 'SCOPE', conditional: false });
    // The message is the one the FORBIDDEN error of the real request carries.
    const real = await gql(t.app, CREATE_LINK, { input: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.org/' } }, { key: key.secret });
    expect(real.body.errors?.[0]?.message).toBe(answer.problems[0]!.message);
    expect(answer.cost).toBeGreaterThan(0);
  });

  it('checks a LIMITED key field by field, through aliases and fragments, and flags data-dependent checks', async () => {
    const alice = await makeUser('alice');
    await makeWorkspace(alice);
    const key = await makeKey(alice, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }] });
    const query = `query {
      recent: links(first: 5) { edges { node { slug createdBy { email } } } }
      ...Projects
    }
    fragment Projects on Query { projects(first: 2) { totalCount } }`;
    const answer = await check(key.secret, query);
    expect(answer.allowed).toBe(false);
    expect(answer.requiredPermissions).toEqual(['links:read', 'projects:read']);
    expect(answer.missingPermissions).toEqual(['projects:read']);
    expect(answer.problems.filter((p) => !p.conditional).map((p) => [p.path, p.permission])).toEqual([['projects', 'projects:read']]);
    // Another user's e-mail needs workspaces:read, the key's own user's does not: conditional.
    expect(answer.problems.filter((p) => p.conditional).map((p) => p.path)).toContain('recent.edges.node.createdBy.email');
    expect(answer.problems.find((p) => p.conditional)!.permission).toBe('workspaces:read');

    const own = await check(key.secret, '{ viewer { user { name email } } links(first: 1) { totalCount } }');
    expect(own).toMatchObject({ allowed: true, missingPermissions: [], requiredPermissions: ['links:read'] });
  });

  it('follows @skip and @include with the variables given', async () => {
    const alice = await makeUser('alice');
    const key = await makeKey(alice, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }] });
    const query = 'query($withProjects: Boolean!) { links(first: 1) { totalCount } projects(first: 1) @include(if: $withProjects) { totalCount } }';
    expect((await check(key.secret, query, { withProjects: false })).allowed).toBe(true);
    expect((await check(key.secret, query, { withProjects: true })).missingPermissions).toEqual(['projects:read']);
  });

  it("checks the user's role in the workspace named in the variables, or owning the object named", async () => {
    const owner = await makeUser('owner');
    const viewer = await makeUser('viewer');
    const shared = await makeWorkspace(owner, 'shared', [[viewer, 'VIEWER']]);
    const own = await makeWorkspace(viewer, 'own');
    const key = await makeKey(viewer, 'FULL');
    const input = (workspace: typeof own) => ({ input: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.org/' } });

    const refused = await check(key.secret, CREATE_LINK, input(shared));
    expect(refused).toMatchObject({ allowed: false, missingPermissions: ['links:write'] });
    expect(refused.problems[0]).toMatchObject({ path: 'createLink', reason: 'ROLE', permission: 'links:write' });
    expect((await check(key.secret, CREATE_LINK, input(own))).allowed).toBe(true);

    // updateLink names a link: its workspace decides.
    const link = await Link.create({ workspaceId: shared._id, domain: '@platform', slug: `a${Date.now()}`, url: 'https://example.com/', createdByUserId: owner._id });
    const update = 'mutation($id: ID!) { updateLink(input: { id: $id, title: "x" }) { __typename } }';
    const answer = await check(key.secret, update, { id: gid('Link', link._id) });
    expect(answer.problems[0]).toMatchObject({ path: 'updateLink', reason: 'ROLE', permission: 'links:write' });

    // A workspace the user is not in reads as missing (the request would answer NOT_FOUND), not FORBIDDEN.
    const stranger = await makeUser('stranger');
    const elsewhere = await makeWorkspace(stranger, 'elsewhere');
    expect((await check(key.secret, CREATE_LINK, input(elsewhere))).allowed).toBe(true);
  });

  it('executes nothing and writes nothing', async () => {
    const alice = await makeUser('alice');
    const workspace = await makeWorkspace(alice);
    const key = await makeKey(alice, 'FULL');
    const before = await Link.countDocuments({ workspaceId: workspace._id });
    const doc = `mutation($input: CreateLinkInput!) { a: createLink(input: $input) { __typename } b: createLink(input: $input) { __typename } }`;
    const answer = await check(key.secret, doc, { input: { workspaceId: gid('Workspace', workspace._id), url: 'https://example.org/', slug: 'never' } });
    expect(answer).toMatchObject({ allowed: true, missingPermissions: [], problems: [] });
    expect(answer.requiredPermissions).toEqual(['links:write']);
    expect(await Link.countDocuments({ workspaceId: workspace._id })).toBe(before);
    expect(await Link.countDocuments({ slug: 'never' })).toBe(0);
  });

  it('answers the cost the server computes: over the limit exactly when running it is refused', async () => {
    const alice = await makeUser('alice');
    const key = await makeKey(alice, 'FULL');
    const small = '{ links(first: 10) { edges { node { id } } } }';
    const big = '{ workspaces(first: 100) { edges { node { links(first: 100) { edges { node { id } } } } } } }';
    const [smallCost, bigCost] = [(await check(key.secret, small)).cost, (await check(key.secret, big)).cost];
    expect(smallCost).toBeLessThan(5000);
    expect(bigCost).toBeGreaterThan(5000);
    expect((await gql(t.app, small, {}, { key: key.secret })).body.errors).toBeUndefined();
    expect((await gql(t.app, big, {}, { key: key.secret })).body.errors?.[0]?.extensions?.complexity).toBe(bigCost);
  });

  it('refuses a bad document as BAD_USER_INPUT naming what is wrong; needs a key but no permission', async () => {
    const alice = await makeUser('alice');
    const key = await makeKey(alice, 'LIMITED', { scopes: [{ resource: 'ANALYTICS', access: 'READ' }] });
    const cases: [string, Record<string, unknown> | undefined, string | undefined, RegExp][] = [
      ['{ links(first: 1) { totalCount }', undefined, undefined, /input\.query: Syntax Error/],
      ['{ linkz { id } }', undefined, undefined, /input\.query is not valid.*linkz/],
      ['query A { viewer { key { id } } } query B { viewer { key { id } } }', undefined, undefined, /operationName is required/],
      ['query A { viewer { key { id } } }', undefined, 'C', /no operation named "C"/],
      ['query($id: ID!) { link(id: $id) { id } }', {}, undefined, /input\.variables: .*\$id/],
    ];
    for (const [query, variables, operationName, message] of cases) {
      const result = await authorize(key.secret, query, variables, operationName);
      expect(result.status).toBe(200);
      expect(result.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(result.body.errors?.[0]?.message).toMatch(message);
    }
    const anonymous = await gql(t.app, AUTHORIZE, { input: { query: '{ viewer { key { id } } }' } });
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await check(key.secret, '{ viewer { key { id } } }')).allowed).toBe(true);
  });
});

describe('authorize agrees with running the document', () => {
  const variants: { name: string; permission: Permission; scopes: Scope[]; role: Role }[] = [
    { name: 'FULL owner', permission: 'FULL', scopes: [], role: 'OWNER' },
    { name: 'FULL member', permission: 'FULL', scopes: [], role: 'MEMBER' },
    { name: 'FULL viewer', permission: 'FULL', scopes: [], role: 'VIEWER' },
    { name: 'READ_ONLY owner', permission: 'READ_ONLY', scopes: [], role: 'OWNER' },
    { name: 'LIMITED links:WRITE member', permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'WRITE' }], role: 'MEMBER' },
    { name: 'LIMITED analytics:READ viewer', permission: 'LIMITED', scopes: [{ resource: 'ANALYTICS', access: 'READ' }], role: 'VIEWER' },
  ];

  it('allowed is false exactly when the request meets FORBIDDEN (operations of test/operations.ts × keys × roles)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...OPERATIONS), fc.constantFrom(...variants), async (op, variant) => {
        const actor = await makeUser('actor');
        const actorKey = await makeKey(actor, variant.permission, { scopes: variant.scopes });
        const target = await makeTarget(actor, variant.role, actorKey.globalId);
        const variables = op.variables(target);
        const answer = await check(actorKey.secret, op.document, variables);
        const real = await gql(t.app, op.document, variables, { key: actorKey.secret });
        const forbidden = (real.body.errors ?? []).some((e) => e.extensions?.code === 'FORBIDDEN');
        expect({ op: op.field, variant: variant.name, allowed: answer.allowed }).toEqual({ op: op.field, variant: variant.name, allowed: !forbidden });
        if (forbidden) expect(answer.missingPermissions).toContain(real.body.errors![0]!.extensions!.requiredPermission);
      }),
      { numRuns: 60, seed: 20261129 },
    );
  }, 120_000);
});

describe('field descriptions', () => {
  it('every field description ends with the permission it requires, from the auth rules', () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
      for (const field of Object.values(type.getFields())) {
        if (!/ ?Requires [^.]+\.$/.test(field.description ?? '')) missing.push(`${type.name}.${field.name}`);
      }
    }
    expect(missing).toEqual([]);
    const fields = (name: string) => (schema.getType(name) as any).getFields();
    expect(fields('Mutation').createLink.description).toMatch(/Requires links:write\.$/);
    expect(fields('Mutation').updateLink.description).toMatch(/Requires links:write\.$/);
    expect(fields('Query').apiKeys.description).toMatch(/Requires keys:read\.$/);
    expect(fields('Link').url.description).toMatch(/Requires links:read\.$/);
    expect(fields('Workspace').members.description).toMatch(/Requires workspaces:read\.$/);
    expect(fields('User').email.description).toMatch(/Requires workspaces:read except on the calling key's own user or key\.$/);
    expect(fields('Query').viewer.description).toMatch(/Requires no permission\.$/);
  });
});
