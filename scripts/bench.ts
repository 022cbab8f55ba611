// Benchmarks: every figure is a ratio to a baseline measured in the same run, in alternating
// rounds (see scripts/bench/measure.ts), next to the database commands per operation, the
// noise-free figure. Then how the database-bound operations scale with the data.
// Usage: npm run bench (1k, 10k and 50k links) or npm run bench -- --quick (1k and 10k).
// Progress goes to stderr; stdout is a markdown report without timestamps.
import { createHmac } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import pino from 'pino';
import { insertApiKey } from '../src/core/api-keys.ts';
import { loadConfig } from '../src/config.ts';
import { connectMongoose, connectReader, databaseFromConnection } from '../src/db/connection.ts';
import { startEmbeddedFerret } from '../src/db/embedded.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { ensureIndexes } from '../src/models/index.ts';
import { Link } from '../src/models/link.ts';
import { clickFacts } from '../src/redirect/clicks.ts';
import { generateApiKey, isWellFormedApiKey } from '../src/rules/keys.ts';
import { PLATFORM_DOMAIN } from '../src/rules/links.ts';
import { toGlobalId } from '../src/schema/ids.ts';
import { createHttpServer } from '../src/server.ts';
import { createServices, type Services } from '../src/services.ts';
import { createApp, type App } from '../src/yoga.ts';
import { compare, formatCount, formatMs, formatRatio, markdownTable, type Op } from './bench/measure.ts';
import { growKeys, growLinks, seedBase, seedLinkClicks, type BenchWorld } from './bench/seed.ts';

const PEPPER = 'bench-pepper-0123456789-abcdefghijklmnopqrstuvwxyz';
const SHORT_DOMAIN = 'bench.test';
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const quick = process.argv.includes('--quick');

/** Rounds and a time budget per cell: more rounds where operations are cheap, fewer where one takes seconds. */
const SCALES = [
  { links: 1_000, keys: 100, label: '1k links, 100 keys', rounds: 9, budgetMs: 15_000 },
  { links: 10_000, keys: 1_000, label: '10k links, 1k keys', rounds: 5, budgetMs: 20_000 },
  { links: 50_000, keys: 10_000, label: '50k links, 10k keys', rounds: 3, budgetMs: 25_000 },
].slice(0, quick ? 2 : 3);

const log = (message: string) => process.stderr.write(`${message}\n`);

// --- database commands -------------------------------------------------------------------

let dbCommands = 0;
/** Runs `op`, counting the database commands it sends (driver monitoring events, handshakes excluded). */
function counted(op: Op, tally: { commands: number; runs: number }): Op {
  return async () => {
    const before = dbCommands;
    await op();
    tally.commands += dbCommands - before;
    tally.runs += 1;
  };
}
async function commandsOf(op: Op): Promise<number> {
  const tally = { commands: 0, runs: 0 };
  await counted(op, tally)();
  return tally.commands;
}

// --- requests ----------------------------------------------------------------------------

async function expectStatus(response: Response, status: number, what: string): Promise<Response> {
  if (response.status !== status) throw new Error(`${what}: expected HTTP ${status}, got ${response.status}: ${await response.text()}`);
  return response;
}

function get(app: App, url: string, status: number): Op {
  return async () => {
    const response = await expectStatus(await app.fetch(new Request(url, { headers: { 'user-agent': BROWSER_UA } })), status, `GET ${url}`);
    await response.arrayBuffer();
  };
}

function graphqlRequest(header: string | null, query: string, variables: Record<string, unknown> = {}): Request {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (header) headers.authorization = header;
  return new Request(`http://${SHORT_DOMAIN}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
}

/** A GraphQL call that must succeed; `check` looks at `data`. */
function gqlOp(app: App, header: string, query: string, variables: () => Record<string, unknown>, check: (data: any) => boolean): Op {
  return async () => {
    const response = await expectStatus(await app.fetch(graphqlRequest(header, query, variables())), 200, 'POST /graphql');
    const body = (await response.json()) as { data?: unknown; errors?: unknown };
    if (body.errors || !check(body.data)) throw new Error(`unexpected GraphQL answer: ${JSON.stringify(body).slice(0, 500)}`);
  };
}

function gqlStatus(app: App, header: string | null, status: number, query = '{ __typename }'): Op {
  return async () => {
    const response = await expectStatus(await app.fetch(graphqlRequest(header, query)), status, 'POST /graphql');
    await response.arrayBuffer();
  };
}

/** Sequential requests over one kept-alive connection to a listening server. */
function socketOp(agent: http.Agent, base: string, pathname: string, status: number, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Op {
  return () =>
    new Promise<void>((resolve, reject) => {
      const request = http.request(`${base}${pathname}`, { agent, method: init.method ?? 'GET', headers: { host: SHORT_DOMAIN, ...init.headers } }, (response) => {
        response.resume();
        response.on('end', () => (response.statusCode === status ? resolve() : reject(new Error(`${pathname}: HTTP ${response.statusCode}, expected ${status}`))));
      });
      request.on('error', reject);
      request.end(init.body);
    });
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

// --- the report --------------------------------------------------------------------------

const perRequestRows: string[][] = [];

async function perRequest(name: string, baselineName: string, baseline: Op, subject: Op, options: { rounds?: number; budgetMs?: number; sliceMs?: number; commands: number }) {
  log(`  ${name}`);
  const result = await compare(baseline, subject, { rounds: options.rounds ?? 15, budgetMs: options.budgetMs ?? 15_000, sliceMs: options.sliceMs });
  perRequestRows.push([name, baselineName, formatMs(result.subjectMs), formatMs(result.baselineMs), formatRatio(result.ratio), formatCount(options.commands)]);
}

interface ScaleRow {
  name: string;
  baseline: 'link' | 'key';
  cells: string[];
  commands: number[];
}
const scaleRows = new Map<string, ScaleRow>();
const baselineTimes = { link: [] as number[][], key: [] as number[][] };

async function scaleCell(scaleIndex: number, name: string, baselineKind: 'link' | 'key', baseline: Op, subject: Op, budget: { rounds: number; budgetMs: number }) {
  log(`  ${name}`);
  const tally = { commands: 0, runs: 0 };
  const result = await compare(baseline, counted(subject, tally), { ...budget, sliceMs: 25, maxBatch: 20 });
  const row = scaleRows.get(name) ?? { name, baseline: baselineKind, cells: [], commands: [] };
  scaleRows.set(name, row);
  row.cells[scaleIndex] = `${formatMs(result.subjectMs)} (${formatRatio(result.ratio)})`;
  row.commands[scaleIndex] = tally.commands / tally.runs;
  (baselineTimes[baselineKind][scaleIndex] ??= []).push(result.baselineMs);
}

// --- main --------------------------------------------------------------------------------

async function main() {
  const benchStarted = performance.now();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'taapit-bench-'));
  // A failed run must not leave its database files behind (FerretDB itself stops with us: watchdog).
  process.once('exit', () => void fsSync.rmSync(dataDir, { recursive: true, force: true }));
  const ferret = process.env.MONGODB_URI ? null : await startEmbeddedFerret({ dataDir });
  const uri = process.env.MONGODB_URI ?? ferret!.uri('bench');
  // Scans at 50k links on a busy machine can pass the server's default deadline: the bench measures, it does not time out.
  const options = { timeoutMs: 5000, monitorCommands: true, queryTimeoutMs: 600_000 };
  const connection = await connectMongoose(uri, { ...options, ferret: !!ferret });
  await connection.db!.dropDatabase();
  await ensureIndexes();
  // As in the server: on the embedded database slow reads have a connection of their own.
  const reader = ferret ? await connectReader(uri, options) : undefined;
  for (const client of [connection.getClient(), reader?.getClient()]) {
    client?.on('commandStarted', (event) => {
      if (!['hello', 'ismaster', 'isMaster', 'ping'].includes(event.commandName)) dbCommands += 1;
    });
  }
  const db = databaseFromConnection(ferret ? 'ferretdb' : 'mongodb', connection, reader);
  const logger = pino({ level: 'silent' });
  const env = {
    API_KEY_PEPPER: PEPPER,
    SHORT_DOMAIN,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_MINUTE: '1000000',
    ANONYMOUS_RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_POINTS_PER_MINUTE: '100000000',
    AUTH_FAILURE_LIMIT_PER_MINUTE: '1000000',
    // The change log costs one read by _id per 400 ms per instance whatever the traffic: left
    // out here so that the per-request command counts are per request.
    KEY_REVOCATION_POLL_MS: '0',
  };
  // Warm: keys and links stay cached for the whole run. Cold: nothing cached (KEY_CACHE_TTL_MS=0
  // also turns off the link and domain caches), so every request reads the database.
  const warm: Services = createServices(loadConfig({ ...env, KEY_CACHE_TTL_MS: '3600000' }), logger, db, PEPPER);
  const cold: Services = createServices(loadConfig({ ...env, KEY_CACHE_TTL_MS: '0' }), logger, db, PEPPER);
  const warmApp = createApp(warm);
  const coldApp = createApp(cold);

  log(`seeding ${SCALES[0]!.label}`);
  const world: BenchWorld = await seedBase(PEPPER);
  await growLinks(world, SCALES[0]!.links, SHORT_DOMAIN);
  await growKeys(world, SCALES[0]!.keys, PEPPER);
  const header = `Bearer ${world.secret}`;
  const workspaceGid = toGlobalId('Workspace', world.workspaceId);

  // ---- per request, in process and over a socket (no dependence on the amount of data) ----
  log('per request');
  const hmacOnly = () => isWellFormedApiKey(world.secret) && createHmac('sha256', PEPPER).update(world.secret).digest('base64url');
  const cacheHit = () => warm.authenticator.authenticate(header, '127.0.0.1');
  await cacheHit();
  await perRequest('authenticate(), key cached', 'format + checksum + HMAC-SHA256', hmacOnly, cacheHit, { commands: await commandsOf(cacheHit) });

  const healthz = get(warmApp, `http://${SHORT_DOMAIN}/healthz`, 200);
  const cachedRedirect = get(warmApp, `http://${SHORT_DOMAIN}/f0`, 302);
  await cachedRedirect();
  await perRequest('GET /<slug>, link cached (app.fetch)', 'GET /healthz (app.fetch)', healthz, cachedRedirect, { commands: await commandsOf(cachedRedirect) });

  const viewerQuery = '{ viewer { key { name permission } user { email } } }';
  const viewer = gqlOp(warmApp, header, viewerQuery, () => ({}), (data) => data.viewer.key.name === 'bench');
  await perRequest('{ viewer }, key cached (app.fetch)', 'GET /healthz (app.fetch)', healthz, viewer, { commands: await commandsOf(viewer) });

  const linksQuery = (first: number) =>
    gqlOp(
      warmApp,
      header,
      `query($w: ID, $n: Int) { links(workspaceId: $w, first: $n) { edges { node { slug project { name } domain { hostname } createdBy { email } } } } }`,
      () => ({ w: workspaceGid, n: first }),
      (data) => data.links.edges.length === first,
    );
  await perRequest(`links(first: 50) nested, ${SCALES[0]!.label}`, 'links(first: 5) nested', linksQuery(5), linksQuery(50), {
    rounds: 7,
    commands: await commandsOf(linksQuery(50)),
  });

  const bare = http.createServer((_request, response) => {
    response.writeHead(302, { Location: 'https://example.com/', 'Cache-Control': 'no-store' });
    response.end();
  });
  const appServer = createHttpServer(warmApp);
  const bareUrl = await listen(bare);
  const appUrl = await listen(appServer);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const socketSlice = { rounds: 10, sliceMs: 150 };
  const socketRedirect = socketOp(agent, appUrl, '/f0', 302, { headers: { 'user-agent': BROWSER_UA } });
  await perRequest('GET /<slug>, link cached, over a socket', 'bare node:http 302', socketOp(agent, bareUrl, '/f0', 302), socketRedirect, {
    ...socketSlice,
    commands: await commandsOf(socketRedirect),
  });
  const post = (key: string | null, query: string, status: number) =>
    socketOp(agent, appUrl, '/graphql', status, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query }),
    });
  const socketViewer = post(world.secret, viewerQuery, 200);
  await perRequest('{ viewer }, key cached, over a socket', 'anonymous { __typename }', post(null, '{ __typename }', 200), socketViewer, {
    ...socketSlice,
    commands: await commandsOf(socketViewer),
  });
  const badChecksum = `${world.secret.slice(0, -1)}${world.secret.endsWith('x') ? 'y' : 'x'}`;
  const socketBad = post(badChecksum, '{ __typename }', 401);
  await perRequest('bad-checksum key, over a socket', '{ __typename } with a valid key', post(world.secret, '{ __typename }', 200), socketBad, {
    ...socketSlice,
    commands: await commandsOf(socketBad),
  });
  // The same unknown key each time: its "no such key" is cached like a key, so this is the HTTP path.
  const socketUnknown = post(generateApiKey(), '{ __typename }', 401);
  await socketUnknown();
  await perRequest('unknown key (valid checksum), over a socket', '{ __typename } with a valid key', post(world.secret, '{ __typename }', 200), socketUnknown, {
    ...socketSlice,
    commands: await commandsOf(socketUnknown),
  });
  agent.destroy();
  await close(bare);
  await close(appServer);

  // ---- scale ----
  const browserFacts = clickFacts(new Headers({ 'user-agent': BROWSER_UA, referer: 'https://news.ycombinator.com/item' }));
  for (const [index, scale] of SCALES.entries()) {
    if (index > 0) {
      log(`seeding ${scale.label}`);
      await growLinks(world, scale.links, SHORT_DOMAIN);
      await growKeys(world, scale.keys, PEPPER);
    }
    log(`scale: ${scale.label}`);
    // The targets are the newest documents, made the way the API makes them.
    const created = async (slug: string) => {
      const response = await warmApp.fetch(
        graphqlRequest(header, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { id } } ... on Error { message } } }', {
          i: { workspaceId: workspaceGid, url: `https://example.org/${slug}`, slug },
        }),
      );
      const id = ((await response.json()) as any).data?.createLink?.link?.id as string | undefined;
      if (!id) throw new Error(`createLink ${slug} failed`);
      return id;
    };
    const hotSlug = `hot${index}`;
    const hotId = await created(hotSlug);
    const updId = await created(`upd${index}`);
    const hotLink = (await Link.findOne({ domain: PLATFORM_DOMAIN, slug: hotSlug }).lean().exec())!;
    await seedLinkClicks(hotLink._id, hotLink.workspaceId);
    const newest = await insertApiKey({
      userId: world.userId,
      pepper: PEPPER,
      createdVia: 'CLI',
      spec: { name: 'newest', permission: 'FULL', scopes: [], workspaces: [], expiresAt: null, allowedIps: [], rateLimit: null },
    });
    const budget = { rounds: scale.rounds, budgetMs: scale.budgetMs };
    const linkById = () => Link.findById(hotLink._id).lean().exec();
    const keyById = () => ApiKey.findById(newest.doc._id).lean().exec();
    const cell = (name: string, kind: 'link' | 'key', op: Op) => scaleCell(index, name, kind, kind === 'link' ? linkById : keyById, op, budget);

    await cell('uncached redirect, 302', 'link', get(coldApp, `http://${SHORT_DOMAIN}/${hotSlug}`, 302));
    await cell('uncached redirect, 404', 'link', get(coldApp, `http://${SHORT_DOMAIN}/no-such-slug`, 404));
    await cell('links(first: 50) with project, domain, creator', 'link', linksQuery(50));
    await cell(
      'linkStats (30 days, every breakdown)',
      'link',
      gqlOp(
        warmApp,
        header,
        'query($id: ID!) { linkStats(linkId: $id) { __typename ... on LinkStats { totalClicks referrers { value clicks } devices { value clicks } browsers { value clicks } series { day clicks } } } }',
        () => ({ id: hotId }),
        (data) => data.linkStats.__typename === 'LinkStats' && data.linkStats.totalClicks > 0,
      ),
    );
    let flip = 0;
    await cell(
      'updateLink, slug change',
      'link',
      gqlOp(
        warmApp,
        header,
        'mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename ... on Error { message } } }',
        () => ({ i: { id: updId, slug: `upd${index}-${flip++ % 2}` } }),
        (data) => data.updateLink.__typename === 'LinkPayload',
      ),
    );
    await cell(
      'createLink (generated slug)',
      'link',
      gqlOp(
        warmApp,
        header,
        'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on Error { message } } }',
        () => ({ i: { workspaceId: workspaceGid, url: 'https://example.org/new' } }),
        (data) => data.createLink.__typename === 'LinkPayload',
      ),
    );
    await cell('cold key verification, newest key', 'key', gqlStatus(coldApp, `Bearer ${newest.secret}`, 200));
    await cell('unknown key rejected (valid checksum)', 'key', () => gqlStatus(coldApp, `Bearer ${generateApiKey()}`, 401)());
    // 50 links spread over the collection, each clicked once by a browser: 50 link $incs and 200 bucket upserts.
    const step = Math.floor(world.fillerLinks.length / 50);
    const clicked = Array.from({ length: 50 }, (_, i) => ({ ...world.fillerLinks[i * step]!, maxClicks: null }));
    await warm.clicks.flush();
    await cell('click flush, 50 clicked links', 'link', async () => {
      for (const link of clicked) warm.clicks.record(link, browserFacts);
      await warm.clicks.flush();
    });
  }

  // ---- print ----
  const kind = ferret ? 'embedded FerretDB' : 'MONGODB_URI';
  const out: string[] = [];
  out.push(`### npm run bench${quick ? ' -- --quick' : ''} (${kind}, Node ${process.version}, ${os.cpus().length} CPUs)`, '');
  out.push('Per request: medians of alternating rounds of the operation and its baseline.', '');
  out.push(markdownTable(['operation', 'baseline', 'time', 'baseline time', 'ratio', 'DB commands'], perRequestRows), '');
  out.push(
    `Scale: median time per operation and, in brackets, that time over a read by \`_id\` of one document of the same collection (a link; a key for the key rows) taken in alternating rounds; at most ${SCALES.map((s) => s.rounds).join(' / ')} rounds per cell.`,
    '',
  );
  const median = (values: number[] = []) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN;
  const commandCell = (values: number[]) => (values.every((v) => v === values[0]) ? formatCount(values[0]!) : values.map(formatCount).join(' / '));
  const rows = [
    ['baseline: a link by _id', '1', ...SCALES.map((_, i) => formatMs(median(baselineTimes.link[i])))],
    ['baseline: a key by _id', '1', ...SCALES.map((_, i) => formatMs(median(baselineTimes.key[i])))],
    ...[...scaleRows.values()].map((row) => [row.name, commandCell(row.commands), ...row.cells]),
  ];
  out.push(markdownTable(['operation', 'DB commands', ...SCALES.map((s) => s.label)], rows));
  process.stdout.write(`${out.join('\n')}\n`);
  log(`done in ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);

  await connection.db!.dropDatabase();
  await mongoose.disconnect();
  await ferret?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

