import { randomBytes } from 'node:crypto';
import { isInterfaceType, isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import { schema } from '../src/schema/index.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  t = createTestApp(db());
});
afterAll(() => t.close());

// An object's GraphQL type is decided by who loaded it (its field's type, or the type inside the
// id given to node(id:)), never guessed from which fields the stored document happens to have.
describe('objects are typed by who loaded them, not by their fields', () => {
  it('a Project stored without color and a Link stored with a color resolve as themselves everywhere', async () => {
    const owner = await makeUser('owner');
    const workspace = await makeWorkspace(owner, 'typed');
    const key = await makeKey(owner, 'FULL');
    const now = new Date();
    // Written past mongoose, as older or hand-made documents are: no color, no description.
    const { insertedId: projectId } = await Project.collection.insertOne({ workspaceId: workspace._id, name: 'bare', createdAt: now, updatedAt: now });
    const link = await Link.create({
      workspaceId: workspace._id,
      domain: t.services.config.shortDomain,
      slug: randomBytes(4).toString('hex'),
      url: 'https://example.com/',
      projectId,
      createdByUserId: owner._id,
    });
    await Link.collection.updateOne({ _id: link._id }, { $set: { color: '#ff0000' } });

    const byNode = await gql(
      t.app,
      `query($p: ID!, $l: ID!) {
        project: node(id: $p) { __typename id ... on Project { name color } }
        link: node(id: $l) { __typename id ... on Link { slug project { __typename name color } } }
      }`,
      { p: gid('Project', projectId), l: gid('Link', link._id) },
      { key: key.secret },
    );
    expect(byNode.body.errors).toBeUndefined();
    expect(byNode.body.data.project).toEqual({ __typename: 'Project', id: gid('Project', projectId), name: 'bare', color: null });
    expect(byNode.body.data.link).toMatchObject({ __typename: 'Link', slug: link.slug, project: { __typename: 'Project', name: 'bare', color: null } });

    const byList = await gql(
      t.app,
      `query($w: ID!) {
        projects(workspaceId: $w, first: 5) { edges { node { __typename id color } } }
        links(workspaceId: $w, first: 5) { edges { node { __typename id slug } } }
        workspace(id: $w) {
          projects(first: 5) { edges { node { __typename id } } }
          links(first: 5) { edges { node { __typename id } } }
        }
      }`,
      { w: gid('Workspace', workspace._id) },
      { key: key.secret },
    );
    expect(byList.body.errors).toBeUndefined();
    const project = { __typename: 'Project', id: gid('Project', projectId) };
    const shortLink = { __typename: 'Link', id: gid('Link', link._id) };
    expect(byList.body.data.projects.edges).toEqual([{ node: { ...project, color: null } }]);
    expect(byList.body.data.links.edges).toEqual([{ node: { ...shortLink, slug: link.slug } }]);
    expect(byList.body.data.workspace.projects.edges).toEqual([{ node: project }]);
    expect(byList.body.data.workspace.links.edges).toEqual([{ node: shortLink }]);
  });

  it('no Node type guesses its objects from their fields (no isTypeOf): node(id:) brands what it loads', () => {
    const node = schema.getType('Node');
    if (!isInterfaceType(node)) throw new Error('Node is not an interface');
    const guessing = schema
      .getPossibleTypes(node)
      .filter((type) => isObjectType(type) && type.isTypeOf)
      .map((type) => type.name);
    expect(guessing).toEqual([]);
  });
});
