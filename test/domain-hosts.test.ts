import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDomainHosts } from '../src/db/migrations.ts';
import { Domain, findDomainByHost } from '../src/models/domain.ts';
import { DomainHost } from '../src/models/domain-host.ts';
import { Link } from '../src/models/link.ts';
import { commandsDuring, createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, started } = useTestDatabase();
let t: TestApp;
let key: string;
let workspace: { _id: Types.ObjectId };

beforeAll(async () => {
  t = createTestApp(db());
  const user = await makeUser('hosts');
  workspace = await makeWorkspace(user, 'w');
  key = (await makeKey(user)).secret;
  await Domain.create({ workspaceId: workspace._id, hostname: 'go.hosts.example', verified: true, verificationToken: 'x', notFoundUrl: 'https://hosts.example/missing' });
  await Link.create({ workspaceId: workspace._id, domain: 'go.hosts.example', slug: 'docs', url: 'https://example.com/', createdByUserId: user._id });
});
afterAll(() => t.close());

/** The reads of `domains` and `domainhosts` in `commands`, as "collection filter". */
const domainReads = (commands: { commandName: string; command: Record<string, any> }[]) =>
  commands.filter((c) => c.commandName === 'find' && ['domains', 'domainhosts'].includes(c.command.find)).map((c) => `${c.command.find} ${JSON.stringify(c.command.filter)}`);

describe('domains by hostname are primary-key reads', () => {
  it('a redirect on a custom domain finds it by two { _id } reads, not by a hostname filter', async () => {
    t.services.linkCache.clear();
    const commands = await commandsDuring(started, async () => {
      const response = await t.app.fetch(new Request('http://go.hosts.example/unknown-slug'), { clientIp: '127.0.0.1' });
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe('https://hosts.example/missing');
    });
    const domain = await Domain.findOne({ hostname: 'go.hosts.example' }).lean().exec();
    expect(domainReads(commands)).toEqual([`domainhosts {"_id":"go.hosts.example"}`, `domains {"_id":"${domain!._id}"}`]);
  });

  it("a link's domain in GraphQL is loaded the same way", async () => {
    const commands = await commandsDuring(started, async () => {
      const result = await gql(t.app, 'query($w: ID) { links(workspaceId: $w, first: 5) { edges { node { slug domain { hostname } } } } }', { w: gid('Workspace', workspace._id) }, { key });
      expect(result.body.errors).toBeUndefined();
      expect(result.body.data.links.edges.map((e: any) => e.node.domain?.hostname)).toEqual(['go.hosts.example']);
    });
    expect(domainReads(commands).every((read) => read.includes('{"_id":'))).toBe(true);
    expect(domainReads(commands)).toContain(`domainhosts {"_id":"go.hosts.example"}`);
  });

  it("a deleted domain's name finds nothing, and a new domain of that name takes it over", async () => {
    const first = await Domain.create({ workspaceId: workspace._id, hostname: 'reused.hosts.example', verificationToken: 'x' });
    expect(String((await findDomainByHost('reused.hosts.example'))?._id)).toBe(String(first._id));
    await Domain.deleteOne({ _id: first._id });
    expect(await findDomainByHost('reused.hosts.example')).toBeNull();
    const other = await Domain.create({ workspaceId: new Types.ObjectId(), hostname: 'reused.hosts.example', verificationToken: 'y' });
    expect(String((await findDomainByHost('reused.hosts.example'))?._id)).toBe(String(other._id));
    expect(await findDomainByHost('never.hosts.example')).toBeNull();
  });

  it('domains written before the registry get their pointer from the migration', async () => {
    const { insertedId } = await Domain.collection.insertOne({ workspaceId: workspace._id, hostname: 'old.hosts.example', verified: true, verificationToken: 'z', primary: false } as any);
    expect(await findDomainByHost('old.hosts.example')).toBeNull();
    expect(await migrateDomainHosts(t.services.logger, { force: true })).toBe(1);
    expect(String((await findDomainByHost('old.hosts.example'))?._id)).toBe(String(insertedId));
    expect(await DomainHost.countDocuments({ _id: 'go.hosts.example' })).toBe(1);
  });
});
