import http from 'node:http';
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedFerret } from '../src/db/embedded.ts';
import { ferretProcesses, killSpawned, request, startServer, tempDir, waitFor, type Started } from './process.ts';

afterEach(killSpawned);

// Real servers killed mid-burst: every redirect answered 302 must be a stored click afterwards.

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const WORKERS = 8;


async function createLink(s: Started, slug: string): Promise<void> {
  const call = async (query: string, variables: Record<string, unknown> = {}) =>
    JSON.parse(
      (
        await request(s.port, '/graphql', {
          method: 'POST',
          body: JSON.stringify({ query, variables }),
          headers: { 'content-type': 'application/json', authorization: `Bearer ${s.key}` },
        })
      ).text,
    );
  const workspaceId = (await call('{ workspaces(first: 1) { edges { node { id } } } }')).data.workspaces.edges[0].node.id;
  const created = await call('mutation($i: CreateLinkInput!) { createLink(input: $i) { __typename } }', { i: { workspaceId, url: 'https://example.com/', slug } });
  expect(created.data.createLink.__typename).toBe('LinkPayload');
}

/** Redirects on WORKERS keep-alive connections until `until` resolves (or a connection fails); counts the 302s. */
async function burst(port: number, slug: string, until: Promise<unknown>): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
  let stop = false;
  void until.then(() => (stop = true));
  let answered = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (!stop) {
        try {
          if ((await request(port, `/${slug}`, { headers: { 'user-agent': BROWSER }, agent })).status === 302) answered += 1;
        } catch {
          return; // the server died under this request: no answer, no promise
        }
      }
    }),
  );
  agent.destroy();
  return answered;
}

async function storedClicks(dataDir: string, slug: string): Promise<number> {
  const ferret = await startEmbeddedFerret({ dataDir, supervise: false });
  const client = new MongoClient(ferret.uri('taapit'));
  try {
    return (await client.db('taapit').collection('links').findOne({ slug }))?.clicks ?? -1;
  } finally {
    await client.close();
    await ferret.stop();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function stopGracefully(s: Started, dataDir: string): Promise<number | null> {
  process.kill(s.server.child.pid!, 'SIGTERM');
  const code = await s.server.exited;
  await waitFor(() => (ferretProcesses(dataDir).length === 0 ? true : undefined), 10_000, 'FerretDB to stop');
  return code;
}

describe('no click is lost to a crash', () => {
  it('SIGKILL mid-burst, restart: the clicks stored are the 302s answered', { timeout: 90_000 }, async () => {
    const dataDir = tempDir();
    const first = await startServer({ dataDir, env: { LOG_LEVEL: 'warn' } });
    await createLink(first, 'burst');
    const answered = await burst(
      first.port,
      'burst',
      sleep(1700).then(() => process.kill(first.server.child.pid!, 'SIGKILL')),
    );
    await first.server.exited;
    await waitFor(() => (ferretProcesses(dataDir).length === 0 ? true : undefined), 10_000, 'FerretDB to stop');

    // The restarted server replays what the journal holds, then stops cleanly.
    const second = await startServer({ dataDir, env: { LOG_LEVEL: 'warn' } });
    expect(await stopGracefully(second, dataDir)).toBe(0);
    const stored = await storedClicks(dataDir, 'burst');
    console.log(`SIGKILL mid-burst: ${answered} answered 302, ${stored} stored`);
    expect(answered).toBeGreaterThan(100);
    // A click journaled whose answer the kill cut off is stored too: at most one per connection.
    expect(stored).toBeGreaterThanOrEqual(answered);
    expect(stored).toBeLessThanOrEqual(answered + WORKERS);
  });

  it('FerretDB killed mid-burst: cached redirects go on, failed flushes are retried, every click stored once', { timeout: 90_000 }, async () => {
    const dataDir = tempDir();
    const s = await startServer({ dataDir, env: { CLICK_FLUSH_MS: '100', LOG_LEVEL: 'info' } });
    await createLink(s, 'outage');
    const answered = await burst(
      s.port,
      'outage',
      (async () => {
        await sleep(800);
        for (const pid of ferretProcesses(dataDir)) process.kill(Number(pid), 'SIGKILL');
        await sleep(3000);
      })(),
    );
    expect(await stopGracefully(s, dataDir)).toBe(0);
    expect(s.server.output()).toContain('click flush failed; will retry');
    const stored = await storedClicks(dataDir, 'outage');
    console.log(`FerretDB killed mid-burst: ${answered} answered 302, ${stored} stored`);
    expect(stored).toBe(answered);
  });
});
