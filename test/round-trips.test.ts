import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import { countQueries, createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, commands, started } = useTestDatabase();
let t: TestApp;
let key: string;
let workspaceId: string;

beforeAll(async () => {
  t = createTestApp(db());
  const users = [await makeUser('a'), await makeUser('b'), await makeUser('c')];
  const workspace = await makeWorkspace(users[0]!, 'w', [[users[1]!, 'MEMBER'], [users[2]!, 'MEMBER']]);
  workspaceId = gid('Workspace', workspace._id);
  key = (await makeKey(users[0]!)).secret;
  const projects = await Project.insertMany(Array.from({ length: 5 }, (_, i) => ({ workspaceId: workspace._id, name: `p${i}` })));
  const domains = await Domain.insertMany(Array.from({ length: 3 }, (_, i) => ({ workspaceId: workspace._id, hostname: `d${i}.rt.example`, verified: true, verificationToken: 'x' })));
  await Link.insertMany(
    Array.from({ length: 60 }, (_, i) => ({
      workspaceId: workspace._id,
      domain: domains[i % 3]!.hostname,
      slug: `s${i}`,
      url: 'https://example.com/',
      projectId: projects[i % 5]!._id,
      createdByUserId: users[i % 3]!._id,
    })),
  );
});
afterAll(() => t.close());

const QUERY = 'query($w: ID, $n: Int) { links(workspaceId: $w, first: $n) { totalCount edges { node { slug project { name } domain { hostname } createdBy { email } workspace { name } } } } }';

describe('database round trips', () => {
  it('links(first: 50) with project, domain, creator and workspace costs the same few queries as links(first: 5)', async () => {
    await gql(t.app, '{ viewer { key { id } } }', {}, { key }); // warm the key cache
    const run = (n: number) =>
      countQueries(commands, async () => {
        const result = await gql(t.app, QUERY, { w: workspaceId, n }, { key });
        expect(result.body.errors).toBeUndefined();
        expect(result.body.data.links.edges).toHaveLength(n);
      });
    const five = await run(5);
    const fifty = await run(50);
    console.log(`[round-trips] links(first: 5): ${five.count} (${five.names.join(', ')}); links(first: 50): ${fifty.count}`);
    expect(fifty.count).toBe(five.count);
    expect(fifty.count).toBeLessThanOrEqual(7);
  });
  it('one object by id is one find with an exact { _id } filter (the embedded database answers it from its index)', async () => {
    await gql(t.app, '{ viewer { key { id } } }', {}, { key }); // warm the key cache
    const link = await Link.findOne({ slug: 's7' }).lean().exec();
    const before = started.length;
    const result = await gql(t.app, 'query($id: ID!) { link(id: $id) { slug } }', { id: gid('Link', link!._id) }, { key });
    expect(result.body.data.link).toEqual({ slug: 's7' });
    const finds = started.slice(before).filter((c) => c.commandName === 'find' && c.command.find === 'links');
    expect(finds.map((c) => Object.keys(c.command.filter))).toEqual([['_id']]);
    expect(finds[0]!.command.filter._id).not.toHaveProperty('$in');
  });
  it('viewer with its user reads only the user by _id: no membership query for a key or a user', async () => {
    await gql(t.app, '{ viewer { key { id } } }', {}, { key }); // warm the key cache
    const before = started.length;
    const result = await gql(t.app, '{ viewer { key { name permission } user { email } } }', {}, { key });
    expect(result.body.data.viewer.user.email).toContain('@');
    const sent = started.slice(before).filter((c) => !['hello', 'ismaster', 'isMaster', 'ping', 'endSessions'].includes(c.commandName));
    expect(sent.map((c) => [c.commandName, c.command.find, Object.keys(c.command.filter ?? {})])).toEqual([['find', 'users', ['_id']]]);
  });
});
