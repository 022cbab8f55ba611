// Benchmarks measured against baselines from the same run (ratios, not absolute thresholds),
// plus database round trips per operation: the noise-free figure. Usage: npm run bench
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import pino from 'pino';
import { createHmac } from 'node:crypto';
import { isWellFormedApiKey } from '../src/rules/keys.ts';
import { loadConfig } from '../src/config.ts';
import { connectMongoose, databaseFromConnection } from '../src/db/connection.ts';
import { startEmbeddedFerret } from '../src/db/embedded.ts';
import { insertApiKey } from '../src/core/api-keys.ts';
import { Link } from '../src/models/link.ts';
import { ensureIndexes } from '../src/models/index.ts';
import { User } from '../src/models/user.ts';
import { Membership, Workspace } from '../src/models/workspace.ts';
import { Project } from '../src/models/project.ts';
import { toGlobalId } from '../src/schema/ids.ts';
import { createServices, stopServices } from '../src/services.ts';
import { createApp } from '../src/yoga.ts';

const PEPPER = 'bench-pepper-0123456789-abcdefghijklmnopqrstuvwxyz';

async function timeIt(label: string, iterations: number, run: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, iterations); i++) await run(); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await run();
  const perOp = Number(process.hrtime.bigint() - start) / iterations / 1000;
  console.log(`  ${label.padEnd(58)} ${perOp.toFixed(1).padStart(9)} µs/op`);
  return perOp;
}

async function main() {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'taapit-bench-'));
  const ferret = process.env.MONGODB_URI ? null : await startEmbeddedFerret({ dataDir });
  const uri = process.env.MONGODB_URI ?? ferret!.uri('bench');
  const connection = await connectMongoose(uri, { ferret: !!ferret, timeoutMs: 5000, monitorCommands: true });
  await connection.db!.dropDatabase();
  await ensureIndexes();
  const commands: string[] = [];
  connection.getClient().on('commandStarted', (e) => commands.push(e.commandName));
  const queries = async (run: () => unknown) => {
    const before = commands.length;
    await run();
    return commands.slice(before).filter((c) => !['hello', 'ismaster', 'ping'].includes(c)).length;
  };

  const config = loadConfig({ API_KEY_PEPPER: PEPPER, SHORT_DOMAIN: 'bench.test', LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '1000000' });
  const services = createServices(config, pino({ level: 'silent' }), databaseFromConnection(ferret ? 'ferretdb' : 'mongodb', connection), PEPPER);
  const app = createApp(services);

  const user = await User.create({ name: 'bench', email: 'bench@example.com' });
  const workspace = await Workspace.create({ name: 'bench', createdByUserId: user._id });
  await Membership.create({ workspaceId: workspace._id, userId: user._id, role: 'OWNER' });
  const project = await Project.create({ workspaceId: workspace._id, name: 'p' });
  await Link.insertMany(Array.from({ length: 60 }, (_, i) => ({ workspaceId: workspace._id, domain: 'bench.test', slug: `s${i}`, url: 'https://example.com/', projectId: project._id, createdByUserId: user._id })));
  const { secret } = await insertApiKey({
    userId: user._id,
    pepper: PEPPER,
    createdVia: 'CLI',
    spec: { name: 'bench', permission: 'FULL', scopes: [], workspaces: [], expiresAt: null, allowedIps: [], rateLimit: null },
  });
  const header = `Bearer ${secret}`;

  console.log(`\nkey verification (${ferret ? 'embedded FerretDB' : 'MONGODB_URI'})`);
  const baseline = await timeIt('baseline: format + checksum + HMAC-SHA256 only', 20000, () =>
    isWellFormedApiKey(secret) && createHmac('sha256', PEPPER).update(secret).digest('base64url'),
  );
  await services.authenticator.authenticate(header, '127.0.0.1');
  const hit = await timeIt('authenticate() on a cache hit', 20000, () => services.authenticator.authenticate(header, '127.0.0.1'));
  const missQueries = await queries(async () => {
    (services.authenticator as unknown as { cache: Map<string, unknown> }).cache.clear();
    await services.authenticator.authenticate(header, '127.0.0.1');
  });
  const badChecksumQueries = await queries(() => services.authenticator.authenticate(`${secret.slice(0, -1)}x`, null));
  console.log(`  cache hit / baseline ratio: ${(hit / baseline).toFixed(2)}x`);
  console.log(`  DB queries: cache miss ${missQueries}, cache hit 0, bad checksum ${badChecksumQueries}`);

  console.log('\nHTTP in process (app.fetch)');
  const healthz = () => app.fetch(new Request('http://bench.test/healthz'));
  const redirect = () => app.fetch(new Request('http://bench.test/s1'));
  const viewer = () =>
    app.fetch(new Request('http://bench.test/graphql', { method: 'POST', headers: { authorization: header, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ viewer { key { name } } }' }) }));
  const base = await timeIt('baseline: GET /healthz', 3000, healthz);
  const red = await timeIt('GET /<slug> redirect (cached link)', 3000, redirect);
  const gql = await timeIt('POST /graphql { viewer } (cached key)', 2000, viewer);
  console.log(`  redirect / healthz: ${(red / base).toFixed(2)}x; viewer query / healthz: ${(gql / base).toFixed(2)}x`);
  console.log(`  DB queries: cached redirect ${await queries(redirect)}, viewer ${await queries(viewer)}`);

  const linksQuery = (n: number) => () =>
    app.fetch(new Request('http://bench.test/graphql', { method: 'POST', headers: { authorization: header, 'content-type': 'application/json' }, body: JSON.stringify({ query: `query($w: ID) { links(workspaceId: $w, first: ${n}) { edges { node { slug project { name } domain { hostname } createdBy { email } } } } }`, variables: { w: toGlobalId('Workspace', workspace._id) } }) }));
  console.log(`  DB queries: links(first: 5) ${await queries(linksQuery(5))}, links(first: 50) ${await queries(linksQuery(50))}`);
  const l5 = await timeIt('links(first: 5) with project, domain, creator', 200, linksQuery(5));
  const l50 = await timeIt('links(first: 50) with project, domain, creator', 200, linksQuery(50));
  console.log(`  first:50 / first:5: ${(l50 / l5).toFixed(2)}x`);

  await stopServices(services);
  await connection.db!.dropDatabase();
  await mongoose.disconnect();
  await ferret?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
