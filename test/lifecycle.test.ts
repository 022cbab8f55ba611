import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { ferretBinaryPath, freePort, startEmbeddedFerret } from '../src/db/embedded.ts';
import { ferretProcesses, httpOk, killSpawned, request, runCli, startServer, tempDir, waitFor, type Spawned, type Started } from './process.ts';

afterEach(killSpawned);

// Real server processes, each with its own embedded FerretDB: what an operator or a supervisor sees.

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const SHUTDOWN_TIMEOUT_MS = 3000;

async function gql(s: Started, query: string, variables: Record<string, unknown> = {}) {
  const res = await request(s.port, '/graphql', {
    method: 'POST',
    body: JSON.stringify({ query, variables }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.key}` },
  });
  return JSON.parse(res.text) as { data?: Record<string, any>; errors?: { message: string }[] };
}

async function createLink(s: Started, slug: string): Promise<void> {
  const workspaces = await gql(s, '{ workspaces(first: 1) { edges { node { id } } } }');
  const workspaceId = workspaces.data?.workspaces.edges[0].node.id;
  const created = await gql(s, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }', {
    i: { workspaceId, url: 'https://example.com/landing', slug },
  });
  expect(created.data?.createLink.__typename).toBe('LinkPayload');
}

/** `count` redirects over 4 keep-alive connections; returns how many answered 302. */
async function redirect(port: number, slug: string, count: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let redirected = 0;
  await Promise.all(
    Array.from({ length: 4 }, async (_, worker) => {
      for (let i = worker; i < count; i += 4) {
        if ((await request(port, `/${slug}`, { headers: { 'user-agent': BROWSER }, agent })).status === 302) redirected += 1;
      }
    }),
  );
  agent.destroy();
  return redirected;
}

/** The stored click count of a link, read straight from the stopped server's data. */
async function storedClicks(dataDir: string, slug: string): Promise<number> {
  const ferret = await startEmbeddedFerret({ dataDir, supervise: false });
  const client = new MongoClient(ferret.uri('taapit'));
  try {
    const link = await client.db('taapit').collection('links').findOne({ slug });
    return link?.clicks ?? -1;
  } finally {
    await client.close();
    await ferret.stop();
  }
}

async function exitWithin(server: Spawned, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const result = await Promise.race([server.exited, timeout]);
  clearTimeout(timer);
  return result;
}

/** The server node process: the group leader, or npm's grandchild (npm → sh → node) under `npm start`. */
function serverPid(s: Started): number {
  const pids = execFileSync('pgrep', ['-g', String(s.server.child.pid), '-f', 'src/main.ts serve'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number);
  // The process that loads src/main.ts with --import (not npm, its shell or a launcher around node).
  const node = pids.filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--import'));
  expect(node).toHaveLength(1);
  return node[0]!;
}

function processGroup(pid: number): number {
  // Field 5 of /proc/PID/stat, counted after the parenthesised command name.
  return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
}

describe('signals: every way a supervisor stops the server ends in the same clean shutdown', () => {
  // Clicks are batched for a minute here, so every one of them depends on the final flush.
  const cases: { name: string; npm: boolean; send: (s: Started) => void }[] = [
    { name: 'SIGTERM to the server', npm: false, send: (s) => process.kill(s.server.child.pid!, 'SIGTERM') },
    { name: 'SIGINT to the server', npm: false, send: (s) => process.kill(s.server.child.pid!, 'SIGINT') },
    { name: 'SIGINT to the process group (Ctrl+C)', npm: false, send: (s) => process.kill(-s.server.child.pid!, 'SIGINT') },
    { name: 'SIGTERM to the `npm start` process', npm: true, send: (s) => process.kill(s.server.child.pid!, 'SIGTERM') },
    { name: 'SIGINT to the `npm start` process group (Ctrl+C)', npm: true, send: (s) => process.kill(-s.server.child.pid!, 'SIGINT') },
    { name: 'SIGTERM to the `npm start` process group (systemd)', npm: true, send: (s) => process.kill(-s.server.child.pid!, 'SIGTERM') },
  ];
  for (const c of cases) {
    it(`${c.name}: every click flushed, the server exits 0, no FerretDB left`, async () => {
      const s = await startServer({ npm: c.npm, env: { CLICK_FLUSH_MS: '60000' } });
      await createLink(s, 'last');
      const node = serverPid(s);
      // FerretDB lives in a process group of its own: a signal to ours cannot stop it before the flush.
      const [ferret] = ferretProcesses(s.dataDir);
      expect(processGroup(Number(ferret))).not.toBe(s.server.child.pid);
      const redirected = await redirect(s.port, 'last', 120);
      expect(redirected).toBe(120);

      c.send(s);
      const stopped = Date.now();
      await waitFor(() => (fs.existsSync(`/proc/${node}`) ? undefined : true), SHUTDOWN_TIMEOUT_MS + 2000, 'the server to exit');
      const code = await exitWithin(s.server, 2000);
      console.log(`[lifecycle] ${c.name}: exit ${code} after ${Date.now() - stopped} ms`);
      expect(s.server.output()).toContain('taapit-api stopped');
      expect(code).toBe(0);
      await waitFor(() => (ferretProcesses(s.dataDir).length === 0 ? true : undefined), 3000, 'FerretDB to exit');
      expect(await storedClicks(s.dataDir, 'last')).toBe(120);
    });
  }

  it('keep-alive clients: a request during shutdown gets its answer with Connection: close, none is reset, idle connections are closed', async () => {
    const s = await startServer();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    let stopping = false;
    const outcomes: { last?: string; error?: string }[] = [];
    // Clients sending back to back on kept-alive connections: the worst case for a shutdown.
    const client = async () => {
      const outcome: { last?: string; error?: string } = {};
      outcomes.push(outcome);
      for (;;) {
        try {
          const res = await request(s.port, '/healthz', { agent });
          if (stopping) outcome.last = res.headers.connection;
        } catch (error) {
          outcome.error = (error as NodeJS.ErrnoException).code ?? String(error);
          return;
        }
      }
    };
    const idle = net.connect(s.port, '127.0.0.1');
    const idleClosed = new Promise<void>((resolve) => idle.on('close', () => resolve()));
    const clients = Promise.all([client(), client()]);
    await new Promise((r) => setTimeout(r, 300));
    stopping = true;
    const stoppedAt = Date.now();
    process.kill(s.server.child.pid!, 'SIGTERM');
    expect(await exitWithin(s.server, SHUTDOWN_TIMEOUT_MS + 2000)).toBe(0);
    // The idle connection did not hold the shutdown until SHUTDOWN_TIMEOUT_MS.
    expect(Date.now() - stoppedAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    await idleClosed;
    await clients;
    agent.destroy();
    // Each client: its last answer said Connection: close; its next connection was refused, never reset.
    expect(outcomes).toEqual([
      { last: 'close', error: 'ECONNREFUSED' },
      { last: 'close', error: 'ECONNREFUSED' },
    ]);
  });

  it('a final flush that cannot reach the database: exit code 1 within SHUTDOWN_TIMEOUT_MS + 2 s', async () => {
    const s = await startServer({ env: { CLICK_FLUSH_MS: '60000' } });
    await createLink(s, 'stuck');
    expect(await redirect(s.port, 'stuck', 10)).toBe(10);
    const [ferret] = ferretProcesses(s.dataDir);
    process.kill(Number(ferret), 'SIGSTOP'); // a database that hangs, the worst case for a flush
    try {
      process.kill(s.server.child.pid!, 'SIGTERM');
      const started = Date.now();
      const code = await exitWithin(s.server, SHUTDOWN_TIMEOUT_MS + 2000);
      console.log(`[lifecycle] flush against a hung database: exit ${code} after ${Date.now() - started} ms`);
      expect(code).toBe(1);
      expect(s.server.output()).toMatch(/could not be written/);
    } finally {
      process.kill(Number(ferret), 'SIGCONT');
    }
    await waitFor(() => (ferretProcesses(s.dataDir).length === 0 ? true : undefined), 8000, 'FerretDB to exit');
  });
});

describe('supervised embedded database', () => {
  it('FerretDB killed with SIGKILL: restarted on the same port and data, requests work again within 5 s', async () => {
    const s = await startServer();
    // Reads the database on every call (a key may be cached, its workspaces are not).
    const query = '{ workspaces(first: 1) { edges { node { name } } } }';
    const works = async () => (await gql(s, query).catch(() => null))?.data?.workspaces?.edges[0]?.node.name === 'Demo workspace';
    expect(await works()).toBe(true);
    const [before] = ferretProcesses(s.dataDir);
    process.kill(Number(before), 'SIGKILL');
    const killed = Date.now();
    const recovered = await waitFor(
      async () => ((await works()) ? Date.now() - killed : undefined),
      5000,
      'GraphQL to work again',
    );
    await waitFor(async () => ((await httpOk(`http://127.0.0.1:${s.port}/readyz`))?.status === 200 ? true : undefined), 5000 - (Date.now() - killed), '/readyz');
    console.log(`[lifecycle] FerretDB SIGKILLed: GraphQL works again after ${recovered} ms`);
    const after = ferretProcesses(s.dataDir);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
    expect(s.server.output()).toMatch(/embedded FerretDB exited unexpectedly/);
    await waitFor(() => (/embedded FerretDB restarted/.test(s.server.output()) ? true : undefined), 2000, 'the restart to be logged');
    // The restarted one is supervised too, and still stopped last on shutdown.
    process.kill(s.server.child.pid!, 'SIGTERM');
    expect(await s.server.exited).toBe(0);
    await waitFor(() => (ferretProcesses(s.dataDir).length === 0 ? true : undefined), 3000, 'FerretDB to exit');
  });

  it('restart attempts back off (0.2 s, 0.4 s, 0.8 s…), each logged, until FerretDB can start again', async () => {
    // The server's FerretDB binary is a link this test can take away and put back.
    const cacheDir = tempDir();
    const link = path.join(cacheDir, path.basename(ferretBinaryPath()));
    fs.symlinkSync(ferretBinaryPath(), link);
    const s = await startServer({ env: { FERRETDB_CACHE_DIR: cacheDir } });
    const [ferret] = ferretProcesses(s.dataDir);
    fs.rmSync(link);
    process.kill(Number(ferret), 'SIGKILL');
    await waitFor(() => (/"attempt":3,[^\n]*restart failed/.test(s.server.output()) ? true : undefined), 8000, 'three failed attempts');
    fs.symlinkSync(ferretBinaryPath(), link);
    const delays = [...s.server.output().matchAll(/"attempt":(\d+),"afterMs":(\d+)[^\n]*restarting embedded FerretDB/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(delays.slice(0, 3)).toEqual([
      [1, 200],
      [2, 400],
      [3, 800],
    ]);
    await waitFor(() => (/embedded FerretDB restarted/.test(s.server.output()) ? true : undefined), 6000, 'the restart');
    expect((await httpOk(`http://127.0.0.1:${s.port}/readyz`))?.status).toBe(200);
  });
});

describe('the pepper', () => {
  it('missing while the database holds keys: start-up refused with one line, no new pepper written', async () => {
    const s = await startServer();
    process.kill(s.server.child.pid!, 'SIGTERM');
    expect(await s.server.exited).toBe(0);
    const pepperFile = path.join(s.dataDir, 'api-key-pepper');
    fs.rmSync(pepperFile);

    const again = runCli(['serve'], { DATA_DIR: s.dataDir, PORT: String(await freePort()) });
    expect(await exitWithin(again, 20_000)).toBe(1);
    expect(again.output()).toContain(`${pepperFile} is missing but the database already holds API keys`);
    expect(again.output()).toContain('API_KEY_PEPPER');
    expect(again.output()).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(pepperFile)).toBe(false);
    await waitFor(() => (ferretProcesses(s.dataDir).length === 0 ? true : undefined), 3000, 'FerretDB to exit');
  });

  it('a pepper file shorter than 32 characters is refused like the variable', async () => {
    for (const content of ['', 'short']) {
      const dataDir = tempDir();
      fs.writeFileSync(path.join(dataDir, 'api-key-pepper'), content, { mode: 0o600 });
      const server = runCli(['serve'], { DATA_DIR: dataDir, PORT: String(await freePort()) });
      expect(await exitWithin(server, 20_000)).toBe(1);
      expect(server.output()).toContain(`${path.join(dataDir, 'api-key-pepper')} holds ${content.length} characters`);
      expect(server.output()).toContain('at least 32');
      expect(ferretProcesses(dataDir)).toHaveLength(0);
    }
  });
});
