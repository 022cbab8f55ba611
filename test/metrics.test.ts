import http from 'node:http';
import { register as globalRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { ConfigError, loadConfig } from '../src/config.ts';
import { startEmbeddedFerret } from '../src/db/embedded.ts';
import { createLogger } from '../src/logger.ts';
import { Metrics } from '../src/metrics.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { generateApiKey } from '../src/rules/keys.ts';
import { ClickRecorder } from '../src/redirect/clicks.ts';
import { openClickJournal } from '../src/services.ts';
import { createTestApp, gid, gql, listenOnSocket, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';
import { ferretProcesses, tempDir, waitFor } from './process.ts';

// /metrics: off by default, Prometheus text when METRICS=on, behind METRICS_TOKEN when set; the
// counters move with traffic and never carry a key, slug, e-mail or destination.

const { db } = useTestDatabase();
const opened: TestApp[] = [];
let workspaceId: string;
let user: Awaited<ReturnType<typeof makeUser>>;
let key: string;

beforeAll(async () => {
  user = await makeUser('metrics-person');
  workspaceId = gid('Workspace', (await makeWorkspace(user))._id);
  key = (await makeKey(user)).secret;
});
afterAll(async () => {
  for (const t of opened) await t.close();
});

function app(env: Record<string, string> = {}): TestApp {
  const t = createTestApp(db(), env);
  opened.push(t);
  return t;
}

async function get(t: TestApp, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return await t.app.fetch(new Request(`http://tpt.test${path}`, { headers }), { clientIp: '127.0.0.1' });
}

/** The value of one sample (`name{labels}` exactly as exposed), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(t: TestApp, headers: Record<string, string> = {}): Promise<string> {
  const response = await get(t, '/metrics', headers);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** A GET over a real socket (node's request listener, where the fast path runs), with the short domain as Host. */
function statusOverSocket(base: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${base}${path}`, { headers: { host: 'tpt.test', ...BROWSER }, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    request.on('error', reject);
  });
}

const VIEWER = '{ viewer { key { name } } }';
const BROWSER = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36' };
let slugs = 0;

async function createLink(t: TestApp, url: string): Promise<string> {
  const slug = `m-${(slugs += 1)}-${Date.now().toString(36)}`;
  const created = await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on LinkPayload { link { id } } } }', {
    i: { workspaceId, url, slug },
  }, { key });
  expect(created.body.data?.createLink.__typename).toBe('LinkPayload');
  return slug;
}

describe('/metrics is off unless METRICS=on', () => {
  it('answers 404 saying how to turn it on, even when a link could be named so', async () => {
    const t = app();
    expect(t.services.metrics).toBeNull();
    const response = await get(t, '/metrics');
    expect(response.status).toBe(404);
    expect(await response.text()).toMatch(/METRICS=on/);
    const refused = await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename ... on ValidationError { field } } }', {
      i: { workspaceId, url: 'https://example.org/', slug: 'metrics' },
    }, { key });
    expect(refused.body.data?.createLink).toEqual({ __typename: 'ValidationError', field: 'input.slug' });
  });

  it('METRICS takes on or off; METRICS_TOKEN needs 16 characters and is never echoed', () => {
    expect(loadConfig({ METRICS: 'on' }).metrics).toBe(true);
    expect(loadConfig({}).metrics).toBe(false);
    expect(() => loadConfig({ METRICS: 'yes' })).toThrow(/METRICS="yes" is invalid: expected one of on, off/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short-secret' })).toThrow(ConfigError);
    try {
      loadConfig({ METRICS_TOKEN: 'short-secret' });
    } catch (error) {
      expect((error as Error).message).toMatch(/METRICS_TOKEN is invalid: expected at least 16 characters/);
      expect((error as Error).message).not.toContain('short-secret');
    }
  });
});

describe('METRICS=on', () => {
  let t: TestApp;
  let before: string;
  let after: string;
  let destination: string;
  let slug: string;
  let keys: Record<'deactivated' | 'expired' | 'ipBound' | 'limited', string>;

  beforeAll(async () => {
    t = app({ METRICS: 'on', DATA_DIR: tempDir() });
    await openClickJournal(t.services);
    before = await scrape(t);
    destination = `https://secret-destination.example/${Date.now()}`;
    slug = await createLink(t, destination);
    const deactivated = await makeKey(user);
    await ApiKey.updateOne({ _id: deactivated.id }, { status: 'DEACTIVATED', deactivatedAt: new Date() });
    keys = {
      deactivated: deactivated.secret,
      expired: (await makeKey(user, 'FULL', { expiresAt: new Date(Date.now() - 1000) })).secret,
      ipBound: (await makeKey(user, 'FULL', { allowedIps: ['203.0.113.7'] })).secret,
      limited: (await makeKey(user, 'FULL', { rateLimit: 1 })).secret,
    };

    expect((await gql(t.app, 'query MySecretOperation { viewer { key { name } } }', {}, { key })).status).toBe(200);
    expect((await gql(t.app, '{ noSuchField }', {}, { key })).body.errors?.[0]?.message).toMatch(/noSuchField/);
    expect((await gql(t.app, VIEWER, {}, { key: generateApiKey() })).status).toBe(401);
    expect((await gql(t.app, VIEWER, {}, { key: 'taapit_not-even-well-formed' })).status).toBe(401);
    expect((await gql(t.app, VIEWER, {}, { key: keys.deactivated })).status).toBe(401);
    expect((await gql(t.app, VIEWER, {}, { key: keys.expired })).status).toBe(401);
    expect((await gql(t.app, VIEWER, {}, { key: keys.ipBound })).status).toBe(403);
    expect((await gql(t.app, VIEWER, {}, { key: keys.limited })).status).toBe(200);
    expect((await gql(t.app, VIEWER, {}, { key: keys.limited })).status).toBe(429);
    expect((await gql(t.app, '{ __schema { queryType { name } } }', {}, {})).status).toBe(200);
    expect((await gql(t.app, VIEWER, {}, {})).status).toBe(401);

    expect((await get(t, `/${slug}`, BROWSER)).status).toBe(302);
    expect((await get(t, '/no-such-link-here', BROWSER)).status).toBe(404);
    // The link is cached now: over a socket its next GET is answered on the fast path.
    const socket = await listenOnSocket(t.app);
    try {
      expect(await statusOverSocket(socket.url, `/${slug}`)).toBe(302);
    } finally {
      await socket.close();
    }
    after = await scrape(t);
  });

  it('counts each authentication outcome', () => {
    const delta = (outcome: string) => sample(after, `taapit_auth_requests_total{outcome="${outcome}"}`)! - sample(before, `taapit_auth_requests_total{outcome="${outcome}"}`)!;
    // valid: the MySecretOperation query, the invalid document, the limited key's first call, and createLink.
    expect(delta('valid')).toBe(4);
    expect(delta('invalid')).toBe(2);
    expect(delta('revoked')).toBe(1);
    expect(delta('expired')).toBe(1);
    expect(delta('ip_refused')).toBe(1);
    expect(delta('rate_limited')).toBe(1);
    expect(delta('anonymous')).toBe(1);
    expect(delta('missing')).toBe(1);
  });

  it('counts redirects by status and path, and the clicks they record', async () => {
    expect(sample(after, 'taapit_redirects_total{status="302",cached="no"}')).toBe(1);
    expect(sample(after, 'taapit_redirects_total{status="302",cached="yes"}')).toBe(1);
    expect(sample(after, 'taapit_redirects_total{status="404",cached="no"}')).toBe(1);
    expect(sample(after, 'taapit_redirects_total{status="410",cached="no"}')).toBe(0);
    expect(sample(after, 'taapit_redirects_total{status="404",cached="yes"}')).toBeUndefined();
    expect(sample(after, 'taapit_clicks_recorded_total')).toBe(2);
    expect(sample(after, 'taapit_clicks_journaled_total')).toBe(2);
    expect(sample(after, 'taapit_clicks_buffered')).toBe(2);
    expect(sample(after, 'taapit_clicks_flushed_total')).toBe(0);
    await t.services.clicks.flush();
    const flushed = await scrape(t);
    expect(sample(flushed, 'taapit_clicks_flushed_total')).toBe(2);
    expect(sample(flushed, 'taapit_clicks_buffered')).toBe(0);
    expect(sample(flushed, 'taapit_click_flush_failures_total')).toBe(0);
  });

  it('reports the database up, GraphQL timings from yoga and the process', () => {
    expect(sample(after, 'taapit_db_up')).toBe(1);
    expect(after).toMatch(/^graphql_envelop_request\{operationType="query"\} \d+$/m);
    expect(after).toMatch(/^graphql_yoga_http_duration_count\{method="POST",statusCode="200",operationType="query"\} \d+$/m);
    expect(after).toMatch(/^graphql_envelop_error_result\{operationType="query",phase="validate"\} 1$/m);
    expect(after).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(after).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('never exposes keys, slugs, e-mails, destinations or operation names', () => {
    const secrets = [key, ...Object.values(keys), slug, destination, 'secret-destination', user.email, 'MySecretOperation', 'tpt.test'];
    for (const secret of secrets) expect(after).not.toContain(secret);
    expect(after).not.toMatch(/taapit_[A-Za-z0-9]{20}|operationName=|url=|path=/);
  });

  it('keeps a registry per app: another app starts at zero, the global registry holds nothing of ours', async () => {
    const other = app({ METRICS: 'on' });
    const text = await scrape(other);
    expect(sample(text, 'taapit_auth_requests_total{outcome="valid"}')).toBe(0);
    expect(sample(text, 'taapit_redirects_total{status="302",cached="no"}')).toBe(0);
    expect(await globalRegistry.metrics()).not.toMatch(/taapit_|graphql_/);
  });

  it('is not a short link, and only answers GET', async () => {
    const post = await t.app.fetch(new Request('http://tpt.test/metrics', { method: 'POST' }));
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('METRICS_TOKEN', () => {
  const token = 'metrics-token-0123456789abcdef';
  let t: TestApp;
  beforeAll(() => {
    t = app({ METRICS: 'on', METRICS_TOKEN: token });
  });

  it('is required as a Bearer token: 401 without it or with a wrong one', async () => {
    const refused: Record<string, string>[] = [{}, { authorization: `Bearer ${token}x` }, { authorization: `Bearer ${token.slice(0, -1)}` }, { authorization: token }, { authorization: `Basic ${token}` }];
    for (const headers of refused) {
      const response = await get(t, '/metrics', headers);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="taapit-metrics"');
      const text = await response.text();
      expect(text).toMatch(/METRICS_TOKEN/);
      expect(text).not.toContain(token);
    }
  });

  it('opens /metrics with the right token', async () => {
    const text = await scrape(t, { authorization: `Bearer ${token}` });
    expect(sample(text, 'taapit_db_up')).toBe(1);
    expect(await scrape(t, { authorization: `bearer ${token}` })).toContain('taapit_auth_requests_total');
  });
});

describe('database health, on an embedded FerretDB of its own', () => {
  it('taapit_db_up is 0 while FerretDB is down, and its restart is counted', async () => {
    const dataDir = tempDir();
    const ferret = await startEmbeddedFerret({ dataDir });
    const client = new MongoClient(ferret.uri('admin'), { serverSelectionTimeoutMS: 300 });
    try {
      // The same ping as the server's Database: true when FerretDB answers within the time given.
      const ping = (timeoutMs = 1000) =>
        Promise.race([
          client.db('admin').command({ ping: 1 }).then(() => true, () => false),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs)),
        ]);
      const metrics = new Metrics({ clicks: new ClickRecorder(60_000, createLogger('silent')), db: { ping, embedded: ferret } });
      const read = async (series: string) => sample(await metrics.registry.metrics(), series);
      expect(await read('taapit_db_up')).toBe(1);
      expect(await read('taapit_ferretdb_restarts_total')).toBe(0);

      const [pid] = ferretProcesses(dataDir);
      process.kill(Number(pid), 'SIGKILL');
      await waitFor(async () => ((await read('taapit_db_up')) === 0 ? true : undefined), 3000, 'taapit_db_up to drop');
      await waitFor(async () => ((await read('taapit_ferretdb_restarts_total')) === 1 ? true : undefined), 10_000, 'the restart to be counted');
      await waitFor(async () => ((await read('taapit_db_up')) === 1 ? true : undefined), 5000, 'taapit_db_up to come back');
    } finally {
      await client.close();
      await ferret.stop();
    }
  });
});
