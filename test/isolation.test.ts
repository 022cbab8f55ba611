import mongoose from 'mongoose';
import { WORKSPACE_CASCADE } from '../src/core/resources.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import { unindexRole } from '../src/models/user-roles.ts';
import { Membership } from '../src/models/workspace.ts';
import { parseGlobalId } from '../src/schema/ids.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';
import { OPERATIONS, outcomeOf } from './operations.ts';
import { ghostTarget, makeTarget, type Target } from './world.ts';

const { db } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  t = createTestApp(db(), {}, { txtResolver: async () => [] });
});
afterAll(() => t.close());

/** Everything stored about one workspace, to prove a refused mutation wrote nothing. */
async function snapshot(target: Target): Promise<string> {
  // Every collection a workspace owns (from the resource registry), so a new resource is covered.
  const collections = ['workspaces', 'memberships', ...WORKSPACE_CASCADE.map((model) => model.collection.collectionName), 'apikeys'];
  const parts: unknown[] = [];
  for (const name of collections) {
    // The foreign tenant's own documents only (the caller's key changes: its usage is recorded).
    const filter =
      name === 'workspaces'
        ? { _id: target.raw.workspaceId }
        : name === 'apikeys'
          ? { _id: parseGlobalId(target.keyId, 'ApiKey')! }
          : { workspaceId: target.raw.workspaceId };
    parts.push(await mongoose.connection.db!.collection(name).find(filter).sort({ _id: 1 }).toArray());
  }
  return JSON.stringify(parts);
}

/** Removes the ids and texts that name the requested object, so two answers can be compared. */
const normalize = (body: unknown) => JSON.stringify(body).replace(/"[A-Za-z0-9+/=]{20,}"/g, '"<id>"');

const targeted = OPERATIONS.filter((op) => !op.targetless);

describe('tenant isolation: a foreign object answers exactly like one that does not exist', () => {
  it.each(targeted.map((op) => ({ op, label: `${op.kind} ${op.field}` })))('$label', async ({ op }) => {
    const alice = await makeUser('alice');
    await makeWorkspace(alice, 'own');
    const key = await makeKey(alice, 'FULL');
    const bob = await makeUser('bob');
    const bobsKey = await makeKey(bob, 'FULL');
    const foreign = await makeTarget(bob, null, bobsKey.globalId);

    const before = await snapshot(foreign);
    const onForeign = await gql(t.app, op.document, op.variables(foreign), { key: key.secret });
    const onGhost = await gql(t.app, op.document, op.variables(ghostTarget()), { key: key.secret });
    expect(onForeign.status).toBe(200);
    expect(outcomeOf(op, onForeign.body)).toEqual({ kind: 'notFound' });
    expect(normalize(onForeign.body)).toBe(normalize(onGhost.body));
    expect(await snapshot(foreign)).toBe(before);
  });
});

describe('a workspace outside the key’s restriction answers exactly like one that does not exist', () => {
  // The user is OWNER of B, so only the key's restriction to A stands between it and B.
  // Keys belong to the user, not to a workspace, so the key targets are another user's.
  it.each(targeted.map((op) => ({ op, label: `${op.kind} ${op.field}` })))('$label', async ({ op }) => {
    const alice = await makeUser('alice');
    const a = await makeWorkspace(alice, 'A');
    const key = await makeKey(alice, 'FULL', { workspaces: [a._id] });
    const bob = await makeUser('bob');
    const outside = await makeTarget(alice, 'OWNER', (await makeKey(bob, 'FULL')).globalId);

    const before = await snapshot(outside);
    const onOutside = await gql(t.app, op.document, op.variables(outside), { key: key.secret });
    const onGhost = await gql(t.app, op.document, op.variables(ghostTarget()), { key: key.secret });
    expect(onOutside.status).toBe(200);
    expect(outcomeOf(op, onOutside.body)).toEqual({ kind: 'notFound' });
    expect(normalize(onOutside.body)).toBe(normalize(onGhost.body));
    expect(await snapshot(outside)).toBe(before);
  });
});

describe('every path to a foreign object', () => {
  let aliceKey: string;
  let restrictedKey: string;
  let own: Awaited<ReturnType<typeof makeWorkspace>>;
  let foreign: Target;
  let shared: Target;

  beforeAll(async () => {
    const alice = await makeUser('alice');
    own = await makeWorkspace(alice, 'own');
    aliceKey = (await makeKey(alice)).secret;
    restrictedKey = (await makeKey(alice, 'FULL', { workspaces: [own._id] })).secret;
    const bob = await makeUser('bob');
    foreign = await makeTarget(bob, null, (await makeKey(bob)).globalId);
    shared = await makeTarget(alice, 'VIEWER', (await makeKey(bob)).globalId);
  });

  it('node(id:) of every foreign type is null', async () => {
    for (const id of [foreign.workspaceId, foreign.projectId, foreign.linkId, foreign.domainId]) {
      const result = await gql(t.app, 'query($id: ID!) { node(id: $id) { id } }', { id }, { key: aliceKey });
      expect(result.body, id).toEqual({ data: { node: null } });
    }
  });

  it('lists contain only the key’s workspaces; a VIEWER workspace is visible, a restricted key sees only its own', async () => {
    const all = await gql(t.app, '{ workspaces(first: 50) { edges { node { id viewerRole } } } links(first: 50) { edges { node { workspace { id } } } } }', {}, { key: aliceKey });
    const workspaceIds = all.body.data.workspaces.edges.map((e: any) => e.node.id).sort();
    expect(workspaceIds).toEqual([gid('Workspace', own._id), shared.workspaceId].sort());
    expect(all.body.data.links.edges.map((e: any) => e.node.workspace.id)).toEqual([shared.workspaceId]);

    const restricted = await gql(t.app, '{ workspaces(first: 50) { edges { node { id } } } links(first: 50) { totalCount } }', {}, { key: restrictedKey });
    expect(restricted.body.data.workspaces.edges.map((e: any) => e.node.id)).toEqual([gid('Workspace', own._id)]);
    expect(restricted.body.data.links.totalCount).toBe(0);
    const sharedById = await gql(t.app, 'query($id: ID!) { workspace(id: $id) { id } link(id: $l) { id } }'.replace('query($id: ID!)', 'query($id: ID!, $l: ID!)'), { id: shared.workspaceId, l: shared.linkId }, { key: restrictedKey });
    expect(sharedById.body).toEqual({ data: { workspace: null, link: null } });
  });

  it('list filters given a foreign id return nothing', async () => {
    const result = await gql(
      t.app,
      'query($p: ID!, $w: ID!) { links(first: 10, filter: { projectId: $p }) { totalCount } byWorkspace: links(workspaceId: $w, first: 10) { totalCount } projects(workspaceId: $w) { totalCount } domains(workspaceId: $w) { totalCount } }',
      { p: foreign.projectId, w: foreign.workspaceId },
      { key: aliceKey },
    );
    expect(result.body.data).toEqual({ links: { totalCount: 0 }, byWorkspace: { totalCount: 0 }, projects: { totalCount: 0 }, domains: { totalCount: 0 } });
    const hostFilter = await gql(t.app, 'query($h: String!) { links(first: 10, filter: { domain: $h }) { totalCount } }', { h: foreign.raw.hostname }, { key: aliceKey });
    expect(hostFilter.body.data.links.totalCount).toBe(0);
  });

  it('nested: a link pointing at a foreign project (bad data) shows no project; stats of foreign objects are null', async () => {
    const foreignProject = await Project.findOne({ workspaceId: foreign.raw.workspaceId }).lean();
    const link = await Link.create({ workspaceId: own._id, domain: 'tpt.test', slug: `x${Date.now()}`, url: 'https://a.example/', projectId: foreignProject!._id, createdByUserId: own.createdByUserId });
    const result = await gql(t.app, 'query($id: ID!) { link(id: $id) { project { id } } }', { id: gid('Link', link._id) }, { key: aliceKey });
    expect(result.body).toEqual({ data: { link: { project: null } } });
    const stats = await gql(t.app, 'query($l: ID!, $w: ID!) { linkStats(linkId: $l) { __typename } workspaceStats(workspaceId: $w) { __typename } }', { l: foreign.linkId, w: foreign.workspaceId }, { key: aliceKey });
    expect(stats.body).toEqual({ data: { linkStats: null, workspaceStats: null } });
  });

  it('nested through a visible workspace: members, links, projects and domains of the shared workspace only', async () => {
    const result = await gql(
      t.app,
      'query($id: ID!) { workspace(id: $id) { viewerRole members { totalCount } links { totalCount } projects { totalCount } domains { totalCount } } }',
      { id: shared.workspaceId },
      { key: aliceKey },
    );
    expect(result.body.data.workspace).toEqual({ viewerRole: 'VIEWER', members: { totalCount: 3 }, links: { totalCount: 1 }, projects: { totalCount: 1 }, domains: { totalCount: 2 } });
  });
});

describe('documents cached across requests are shown only to keys that may see them, decided on every request', () => {
  const BY_ID = 'query($w: ID!, $p: ID!, $d: ID!, $l: ID!) { workspace(id: $w) { id name } project: node(id: $p) { id ... on Project { name } } domain(id: $d) { id hostname } link(id: $l) { id domain { hostname } project { name } workspace { name } createdBy { email } } }';
  const ids = (target: Target) => ({ w: target.workspaceId, p: target.projectId, d: target.domainId, l: target.linkId });

  it('cached by a member’s queries, a workspace, project and domain answer a foreign key exactly like ids that do not exist, nested too', async () => {
    const carol = await makeUser('carol');
    const carolsKey = (await makeKey(carol)).secret;
    const target = await makeTarget(carol, 'MEMBER', (await makeKey(carol)).globalId);
    const alice = await makeUser('alice');
    const own = await makeWorkspace(alice, 'own');
    const aliceKey = (await makeKey(alice)).secret;

    // Carol's queries cache every one of them (twice: the second answer comes from the cache).
    for (let i = 0; i < 2; i++) {
      const seen = await gql(t.app, BY_ID, ids(target), { key: carolsKey });
      expect(seen.body.data.link.domain.hostname).toBe(target.raw.hostname);
      expect(seen.body.data.project.name).toBe('p');
    }
    const onForeign = await gql(t.app, BY_ID, ids(target), { key: aliceKey });
    const onGhost = await gql(t.app, BY_ID, ids(ghostTarget()), { key: aliceKey });
    expect(onForeign.body).toEqual({ data: { workspace: null, project: null, domain: null, link: null } });
    expect(normalize(onForeign.body)).toBe(normalize(onGhost.body));

    // Alice's own link pointing at the cached foreign project and domain (bad data) shows neither.
    const foreignProject = await Project.findOne({ workspaceId: target.raw.workspaceId }).lean();
    const link = await Link.create({ workspaceId: own._id, domain: target.raw.hostname, slug: `c${Date.now()}`, url: 'https://a.example/', projectId: foreignProject!._id, createdByUserId: alice._id });
    const nested = await gql(t.app, 'query($id: ID!) { link(id: $id) { domain { hostname } project { name } workspace { name } } }', { id: gid('Link', link._id) }, { key: aliceKey });
    expect(nested.body).toEqual({ data: { link: { domain: null, project: null, workspace: { name: 'own' } } } });
  });

  it('a member removed from the workspace no longer sees what their own queries cached, from the very next request', async () => {
    const carol = await makeUser('carol');
    const carolsKey = (await makeKey(carol)).secret;
    const target = await makeTarget(carol, 'MEMBER', (await makeKey(carol)).globalId);
    expect((await gql(t.app, BY_ID, ids(target), { key: carolsKey })).body.data.workspace).not.toBeNull();
    // Removed the way removeWorkspaceMember does it (roles first), by another process: nothing tells this instance.
    await unindexRole(carol._id, target.raw.workspaceId);
    await Membership.deleteOne({ workspaceId: target.raw.workspaceId, userId: carol._id });
    const after = await gql(t.app, BY_ID, ids(target), { key: carolsKey });
    expect(after.body).toEqual({ data: { workspace: null, project: null, domain: null, link: null } });
  });
});
