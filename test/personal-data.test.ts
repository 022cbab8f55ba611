import { randomBytes } from 'node:crypto';
import {
  getNamedType,
  isInterfaceType,
  isObjectType,
  parse,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type GraphQLField,
  type GraphQLNamedType,
} from 'graphql';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVITATION_LIFETIME_MS, Invitation, invitationId } from '../src/models/invitation.ts';
import { Link } from '../src/models/link.ts';
import type { UserDoc } from '../src/models/user.ts';
import { schema } from '../src/schema/index.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

/**
 * Personal data (who is in a workspace, other users' names and e-mail addresses) needs
 * workspaces:read. The schema walk finds every field that can return such data; each must carry
 * a rule that asks for workspaces:read, and each is then queried with a key that lacks it.
 */

const PERSONAL_TYPES = new Set(['User', 'WorkspaceMember', 'WorkspaceInvitation']);

/** The type a field hands out: lists and non-nulls unwrapped, connections unwrapped to their node type. */
function handedOut(field: GraphQLField<unknown, unknown>): GraphQLNamedType {
  const named = getNamedType(field.type);
  if (isObjectType(named) && named.name.endsWith('Connection') && named.getFields().edges) {
    const edge = getNamedType(named.getFields().edges!.type);
    if (isObjectType(edge) && edge.getFields().node) return getNamedType(edge.getFields().node!.type);
  }
  return named;
}

/** Every `Type.field` that hands out personal data. */
function personalFields(): { coordinate: string; field: GraphQLField<unknown, unknown> }[] {
  const found: { coordinate: string; field: GraphQLField<unknown, unknown> }[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields())) {
      if (PERSONAL_TYPES.has(handedOut(field).name) || /email/i.test(field.name)) found.push({ coordinate: `${type.name}.${field.name}`, field });
    }
  }
  return found;
}

type ScopeMap = Record<string, any>;

/** Does this scope map (default strategy: all must pass) demand workspaces:read or more? */
function demandsWorkspacesRead(map: unknown): boolean {
  if (typeof map !== 'object' || map === null) return false;
  for (const [scope, param] of Object.entries(map as ScopeMap)) {
    if ((scope === 'access' || scope === 'workspaceRole') && param?.resource === 'WORKSPACES' && ['READ', 'WRITE'].includes(param.level)) return true;
    if (scope === '$all' && demandsWorkspacesRead(param)) return true;
  }
  const any = (map as ScopeMap).$any;
  return any !== undefined && Object.entries(any).every(([scope, param]) => demandsWorkspacesRead({ [scope]: param }));
}

// A caller asking about somebody else: every property of the parent is an id nobody has.
const stranger = { id: new Types.ObjectId().toHexString(), userId: new Types.ObjectId().toHexString(), grant: { permission: 'FULL', scopes: [], workspaces: [] } };
const strangerContext = {
  key: stranger,
  memberships: async () => new Map(),
  loaders: {
    visibleWorkspaces: async () => new Set<string>(),
    user: { load: async () => ({ _id: new Types.ObjectId(stranger.userId), name: 'stranger', email: 'stranger@invalid.example' }) },
  },
};
const foreignParent = new Proxy({}, { get: (_target, prop) => (prop === 'then' ? undefined : new Types.ObjectId()) });

/** Evaluates a Pothos authScopes option (a map or a function) for a stranger's object. */
async function evaluate(rule: unknown, kind: 'field' | 'type'): Promise<unknown> {
  if (typeof rule !== 'function') return rule;
  return kind === 'field' ? rule(foreignParent, {}, strangerContext, {}) : rule(foreignParent, strangerContext);
}

type PothosExtensions = { pothosOptions?: { authScopes?: unknown } };

describe('personal data: the schema walk', () => {
  it('finds the known personal fields (the walk itself works)', () => {
    const coordinates = personalFields().map((f) => f.coordinate);
    expect(coordinates).toEqual(expect.arrayContaining(['Link.createdBy', 'Workspace.members', 'WorkspaceMember.user', 'User.email', 'Viewer.user', 'ApiKey.user']));
  });

  it('every field handing out users, members, invitations or e-mail addresses demands workspaces:read', async () => {
    const missing: string[] = [];
    for (const { coordinate, field } of personalFields()) {
      // An edge's node is reached only through its connection field, which is checked itself.
      if (/Edge\.node$/.test(coordinate)) continue;
      const rule = (field.extensions as PothosExtensions).pothosOptions?.authScopes;
      if (rule === undefined) missing.push(`${coordinate}: no auth rule`);
      else if (!demandsWorkspacesRead(await evaluate(rule, 'field'))) missing.push(`${coordinate}: rule does not demand workspaces:read for another user's data`);
    }
    expect(missing).toEqual([]);
  });

  it('the personal types themselves demand workspaces:read for another user', async () => {
    const missing: string[] = [];
    for (const name of PERSONAL_TYPES) {
      const type = schema.getType(name);
      if (!type) continue; // a type not (yet) in the schema
      const rule = (type.extensions as PothosExtensions).pothosOptions?.authScopes;
      if (!demandsWorkspacesRead(await evaluate(rule, 'type'))) missing.push(name);
    }
    expect(missing).toEqual([]);
  });

  it('the check refuses rules that do not ask for workspaces:read', () => {
    expect(demandsWorkspacesRead({ authenticated: true })).toBe(false);
    expect(demandsWorkspacesRead({ access: { resource: 'LINKS', level: 'READ' } })).toBe(false);
    expect(demandsWorkspacesRead({ $any: { authenticated: true, access: { resource: 'WORKSPACES', level: 'READ' } } })).toBe(false);
    expect(demandsWorkspacesRead(true)).toBe(false);
    expect(demandsWorkspacesRead({ access: { resource: 'WORKSPACES', level: 'READ' }, visibleWorkspace: 'w' })).toBe(true);
  });
});

/** The `Type.field` coordinates a document selects. */
function coordinatesOf(document: string): Set<string> {
  const seen = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  visit(
    parse(document),
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const parent = typeInfo.getParentType();
        if (parent) seen.add(`${parent.name}.${node.name.value}`);
      },
    }),
  );
  return seen;
}

const { db } = useTestDatabase();
let t: TestApp;

interface World {
  alice: UserDoc;
  secrets: string[];
  ids: Record<string, string>;
  limitedKey: string;
  fullKey: string;
}
let world: World;

/** Every path to personal data a key might take; each is run with a LIMITED links:read key. */
const PROBES: { name: string; document: string; variables?: (ids: Record<string, string>) => Record<string, unknown> }[] = [
  {
    name: 'viewer and its workspaces',
    document: '{ viewer { user { id name email } key { user { name email } } workspaces { workspace { id members { totalCount edges { cursor node { role user { name email } } } } } } } }',
  },
  {
    name: 'node(id:) of a workspace',
    document: 'query($w: ID!) { node(id: $w) { id ... on Workspace { members { edges { node { user { name email } } } } } } }',
    variables: (ids) => ({ w: ids.workspace }),
  },
  {
    name: 'link lists and their creators',
    document: '{ links(first: 20) { edges { node { slug createdBy { id name email } workspace { members { edges { node { user { email } } } } } } } } }',
  },
  {
    name: 'one link by id and by node(id:)',
    document: 'query($l: ID!) { link(id: $l) { createdBy { name email } } node(id: $l) { ... on Link { createdBy { name email } } } }',
    variables: (ids) => ({ l: ids.bobsLink }),
  },
  {
    name: 'workspace roots and key lists',
    document: 'query($w: ID!) { workspace(id: $w) { members { edges { node { user { email } } } } } workspaces { edges { node { members { edges { node { user { email } } } } } } } apiKeys { edges { node { user { email } } } } }',
    variables: (ids) => ({ w: ids.workspace }),
  },
  {
    name: 'invitations: the viewer\'s own and its workspaces\'',
    document:
      '{ viewer { invitations { id email role invitedBy { name email } workspace { id } workspaceName } workspaces { workspace { invitations { edges { node { email invitedBy { name email } } } } } } } }',
  },
  {
    name: 'node(id:) of invitations',
    document:
      'query($a: ID!, $b: ID!) { a: node(id: $a) { id ... on WorkspaceInvitation { email invitedBy { name email } } } b: node(id: $b) { id ... on WorkspaceInvitation { email invitedBy { name email } } } }',
    variables: (ids) => ({ a: ids.carolsInvitation, b: ids.alicesInvitation }),
  },
  {
    name: 'invitation mutations',
    document: `mutation($i: InviteWorkspaceMemberInput!, $r: WorkspaceInvitationIdInput!, $a: AcceptWorkspaceInvitationInput!) {
      inviteWorkspaceMember(input: $i) { ... on WorkspaceInvitationPayload { invitation { email invitedBy { email } } } }
      revokeWorkspaceInvitation(input: $r) { ... on WorkspaceInvitationPayload { invitation { email invitedBy { email } } } }
      acceptWorkspaceInvitation(input: $a) { ... on WorkspaceMemberPayload { member { user { email } } } } }`,
    variables: (ids) => ({
      i: { workspaceId: ids.workspace, email: ids.carolsEmail, role: 'VIEWER' },
      r: { id: ids.carolsInvitation },
      a: { invitationId: ids.alicesInvitation },
    }),
  },
  {
    name: 'member mutations',
    document:
      'mutation($u: UpdateWorkspaceMemberInput!) { updateWorkspaceMember(input: $u) { ... on WorkspaceMemberPayload { member { user { name email } } } } }',
    variables: (ids) => ({ u: { workspaceId: ids.workspace, userId: ids.bob, role: 'VIEWER' } }),
  },
];

beforeAll(async () => {
  t = createTestApp(db());
  const tag = randomBytes(4).toString('hex');
  const alice = await makeUser(`alice${tag}`);
  const bob = await makeUser(`secretbob${tag}`);
  const workspace = await makeWorkspace(bob, 'shared', [[alice, 'MEMBER']]);
  const bobsLink = await Link.create({ workspaceId: workspace._id, domain: 'tpt.test', slug: `b${tag}`, url: 'https://example.com/b', createdByUserId: bob._id });
  const alicesLink = await Link.create({ workspaceId: workspace._id, domain: 'tpt.test', slug: `a${tag}`, url: 'https://example.com/a', createdByUserId: alice._id });
  // Bob invited Carol (who has no account) to the shared workspace; Dave invited Alice to his.
  const carolsEmail = `secretcarol${tag}@example.com`;
  const dave = await makeUser(`secretdave${tag}`);
  const davesWorkspace = await makeWorkspace(dave, 'dave');
  const invitation = (workspaceId: Types.ObjectId, email: string, by: UserDoc) => {
    const now = new Date();
    return Invitation.create({
      _id: invitationId(workspaceId, email),
      workspaceId,
      email,
      role: 'MEMBER',
      status: 'PENDING',
      invitedByUserId: by._id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + INVITATION_LIFETIME_MS),
      updatedAt: now,
    });
  };
  const carolsInvitation = await invitation(workspace._id, carolsEmail, bob);
  const alicesInvitation = await invitation(davesWorkspace._id, alice.email, dave);
  world = {
    alice,
    secrets: [bob.email, bob.name, carolsEmail, dave.email, dave.name],
    ids: {
      workspace: gid('Workspace', workspace._id),
      bob: gid('User', bob._id),
      bobsLink: gid('Link', bobsLink._id),
      alicesLink: gid('Link', alicesLink._id),
      carolsEmail,
      carolsInvitation: gid('WorkspaceInvitation', carolsInvitation._id),
      alicesInvitation: gid('WorkspaceInvitation', alicesInvitation._id),
    },
    limitedKey: (await makeKey(alice, 'LIMITED', { scopes: [{ resource: 'LINKS', access: 'READ' }] })).secret,
    fullKey: (await makeKey(alice, 'FULL')).secret,
  };
});
afterAll(() => t.close());

describe('personal data: a LIMITED links:read key', () => {
  it('the probes select every personal field the schema walk finds', () => {
    const probed = new Set(PROBES.flatMap((probe) => [...coordinatesOf(probe.document)]));
    const unprobed = personalFields().map((f) => f.coordinate).filter((c) => !probed.has(c));
    expect(unprobed).toEqual([]);
  });

  it.each(PROBES)('$name: no name or e-mail of another user, only FORBIDDEN errors', async (probe) => {
    const result = await gql(t.app, probe.document, probe.variables?.(world.ids) ?? {}, { key: world.limitedKey });
    expect(result.status).toBe(200);
    const text = JSON.stringify(result.body).toLowerCase();
    for (const secret of world.secrets) expect(text).not.toContain(secret.toLowerCase());
    for (const error of result.body.errors ?? []) expect(error.extensions?.code).toBe('FORBIDDEN');
  });

  it('the probes do reach the data with a FULL key (so the test above can fail)', async () => {
    const texts: string[] = [];
    for (const probe of PROBES.filter((p) => p.document.startsWith('{') || p.document.startsWith('query'))) {
      const result = await gql(t.app, probe.document, probe.variables?.(world.ids) ?? {}, { key: world.fullKey });
      expect(result.body.errors).toBeUndefined();
      texts.push(JSON.stringify(result.body));
    }
    for (const secret of world.secrets) expect(texts.join('\n')).toContain(secret);
  });

  it('a refused personal field answers FORBIDDEN workspaces:read and leaves the rest of the answer', async () => {
    const result = await gql(t.app, 'query($l: ID!) { link(id: $l) { slug createdBy { email } } }', { l: world.ids.bobsLink }, { key: world.limitedKey });
    expect(result.body.data.link).toEqual({ slug: expect.any(String), createdBy: null });
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', requiredPermission: 'workspaces:read' });
    expect(result.body.errors![0]!.path).toEqual(['link', 'createdBy']);

    const members = await gql(t.app, '{ viewer { user { email } workspaces { workspace { name members { totalCount } } } } }', {}, { key: world.limitedKey });
    expect(members.body.data.viewer.user.email).toBe(world.alice.email);
    expect(members.body.data.viewer.workspaces).toEqual([{ workspace: { name: 'shared', members: null } }]);
    expect(members.body.errors?.map((e) => e.extensions?.requiredPermission)).toEqual(['workspaces:read']);
  });

  it("the key's own user stays readable: viewer.user, and the creator of its user's own links", async () => {
    const result = await gql(t.app, 'query($l: ID!) { viewer { user { name email } } link(id: $l) { createdBy { email } } }', { l: world.ids.alicesLink }, { key: world.limitedKey });
    expect(result.body).toEqual({ data: { viewer: { user: { name: world.alice.name, email: world.alice.email } }, link: { createdBy: { email: world.alice.email } } } });
  });
});
