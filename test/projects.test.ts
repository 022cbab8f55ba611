import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
let key: string;
let workspaceId: string;

beforeAll(async () => {
  t = createTestApp(db());
  const user = await makeUser();
  workspaceId = gid('Workspace', (await makeWorkspace(user))._id);
  key = (await makeKey(user)).secret;
});
afterAll(() => t.close());

const FIELDS = 'id name description color workspace { id }';
const CREATE = `mutation($i: CreateProjectInput!) { createProject(input: $i) {
  __typename ... on ProjectPayload { project { ${FIELDS} } } ... on Error { code message } ... on ValidationError { field }
} }`;
const UPDATE = `mutation($i: UpdateProjectInput!) { updateProject(input: $i) {
  __typename ... on ProjectPayload { project { ${FIELDS} } } ... on Error { code message } ... on ValidationError { field }
} }`;
const DELETE = 'mutation($i: ProjectIdInput!) { deleteProject(input: $i) { __typename ... on DeletePayload { deletedId } ... on Error { code message } } }';

const create = (input: Record<string, unknown>) => gql(t.app, CREATE, { i: { workspaceId, ...input } }, { key });
async function project(input: Record<string, unknown>): Promise<{ id: string; name: string }> {
  const result = await create(input);
  expect(result.body.data.createProject.__typename).toBe('ProjectPayload');
  return result.body.data.createProject.project;
}

describe('createProject', () => {
  it('creates a project with a trimmed name and a lowercased color, listed newest first', async () => {
    const result = await create({ name: '  Launch  ', description: ' Spring campaign ', color: '#FFAA00' });
    expect(result.body.data.createProject).toEqual({
      __typename: 'ProjectPayload',
      project: { id: expect.any(String), name: 'Launch', description: 'Spring campaign', color: '#ffaa00', workspace: { id: workspaceId } },
    });
    const plain = await project({ name: 'Plain' });
    const lists = await gql(
      t.app,
      'query($w: ID!) { projects(workspaceId: $w) { edges { node { id color description } } } workspace(id: $w) { projects { edges { node { id } } } } }',
      { w: workspaceId },
      { key },
    );
    const listed = lists.body.data.projects.edges.map((edge: { node: unknown }) => edge.node);
    expect(listed.slice(0, 2)).toEqual([
      { id: plain.id, color: null, description: null },
      { id: result.body.data.createProject.project.id, color: '#ffaa00', description: 'Spring campaign' },
    ]);
    const nested = lists.body.data.workspace.projects.edges.map((edge: { node: { id: string } }) => edge.node.id);
    expect(nested).toEqual(listed.map((p: { id: string }) => p.id));
  });

  it.each([
    ['an empty name', { name: '   ' }, 'input.name'],
    ['a name over 100 characters', { name: 'n'.repeat(101) }, 'input.name'],
    ['a description over 1000 characters', { name: 'ok', description: 'd'.repeat(1001) }, 'input.description'],
    ['a color name', { name: 'ok', color: 'red' }, 'input.color'],
    ['a short color', { name: 'ok', color: '#abc' }, 'input.color'],
    ['a color that is not hex', { name: 'ok', color: '#gggggg' }, 'input.color'],
  ])('refuses %s, naming the field, and writes nothing', async (_case, input, field) => {
    const before = await Project.countDocuments();
    const result = await create(input);
    expect(result.body.data.createProject).toMatchObject({ __typename: 'ValidationError', code: 'BAD_USER_INPUT', field });
    expect(result.body.data.createProject.message).not.toBe('');
    expect(await Project.countDocuments()).toBe(before);
  });

  it('accepts a name of exactly 100 characters', async () => {
    expect((await project({ name: 'n'.repeat(100) })).name).toHaveLength(100);
  });

  it("a workspace the key cannot see is not found, and nothing is written there", async () => {
    const other = await makeWorkspace(await makeUser('other'));
    const result = await gql(t.app, CREATE, { i: { workspaceId: gid('Workspace', other._id), name: 'Intruder' } }, { key });
    expect(result.body.data.createProject).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await Project.countDocuments({ workspaceId: other._id })).toBe(0);
  });
});

describe('updateProject', () => {
  it('changes what is given, keeps what is omitted, and null clears description and color', async () => {
    const { id } = await project({ name: 'Before', description: 'about', color: '#112233' });
    const renamed = await gql(t.app, UPDATE, { i: { id, name: ' After ' } }, { key });
    expect(renamed.body.data.updateProject.project).toMatchObject({ id, name: 'After', description: 'about', color: '#112233' });
    const recolored = await gql(t.app, UPDATE, { i: { id, color: '#A0B0C0', name: null } }, { key });
    expect(recolored.body.data.updateProject.project).toMatchObject({ name: 'After', description: 'about', color: '#a0b0c0' });
    const cleared = await gql(t.app, UPDATE, { i: { id, description: null, color: null } }, { key });
    expect(cleared.body.data.updateProject.project).toMatchObject({ name: 'After', description: null, color: null });
  });

  it('refuses a bad color or name and changes nothing', async () => {
    const { id } = await project({ name: 'Stable', color: '#010203' });
    const color = await gql(t.app, UPDATE, { i: { id, name: 'Changed', color: 'blue' } }, { key });
    expect(color.body.data.updateProject).toMatchObject({ __typename: 'ValidationError', field: 'input.color' });
    const name = await gql(t.app, UPDATE, { i: { id, name: '' } }, { key });
    expect(name.body.data.updateProject).toMatchObject({ __typename: 'ValidationError', field: 'input.name' });
    const stored = await gql(t.app, 'query($id: ID!) { node(id: $id) { ... on Project { name color } } }', { id }, { key });
    expect(stored.body.data.node).toEqual({ name: 'Stable', color: '#010203' });
  });

  it('an unknown project is not found', async () => {
    const result = await gql(t.app, UPDATE, { i: { id: gid('Project', 'f'.repeat(24)), name: 'x' } }, { key });
    expect(result.body.data.updateProject).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });
});

describe('deleteProject', () => {
  it('deletes the project; its links stay, without a project', async () => {
    const { id } = await project({ name: 'Doomed' });
    const created = await gql(
      t.app,
      'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { id project { id } } } } }',
      { i: { workspaceId, url: 'https://kept.example/', projectId: id } },
      { key },
    );
    const link = created.body.data.createLink.link;
    expect(link.project).toEqual({ id });

    const deleted = await gql(t.app, DELETE, { i: { id } }, { key });
    expect(deleted.body.data.deleteProject).toEqual({ __typename: 'DeletePayload', deletedId: id });
    const after = await gql(t.app, 'query($l: ID!, $p: ID!) { link(id: $l) { id project { id } } node(id: $p) { id } }', { l: link.id, p: id }, { key });
    expect(after.body.data).toEqual({ link: { id: link.id, project: null }, node: null });
    expect(await Link.countDocuments({ url: 'https://kept.example/' })).toBe(1);

    const again = await gql(t.app, DELETE, { i: { id } }, { key });
    expect(again.body.data.deleteProject).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });
});
