// The memory of a real server process: seeds an embedded database with 50k links, starts the
// server on it as `npm start` does, loads it for a minute (redirects over every link, link lists,
// viewer) and prints the node process's resident set size (VmRSS) idle, during and after the load.
// Usage: npx tsx scripts/bench/rss.ts [--links 50000] [--seconds 60]
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { connectMongoose } from '../../src/db/connection.ts';
import { startEmbeddedFerret } from '../../src/db/embedded.ts';
import { ensureIndexes } from '../../src/models/index.ts';
import { growLinks, seedBase } from './seed.ts';

const argument = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const LINKS = argument('links', 50_000);
const SECONDS = argument('seconds', 60);
const CONCURRENCY = 16;
/** --no-lists: redirects and viewer only (tells the cost of the list scans apart). */
const LISTS = !process.argv.includes('--no-lists');
const PEPPER = 'rss-bench-pepper-0123456789abcdef0123456789';
const SHORT_DOMAIN = 'bench.test';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function rssMb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function request(port: number, pathname: string, host: string, body?: string, key?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host };
    if (body) headers['content-type'] = 'application/json';
    if (key) headers.authorization = `Bearer ${key}`;
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method: body ? 'POST' : 'GET', headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'taapit-rss-'));
  try {
    const ferret = await startEmbeddedFerret({ dataDir });
    await connectMongoose(ferret.uri('taapit'), { ferret: true, timeoutMs: 5000, queryTimeoutMs: 600_000 });
    await ensureIndexes();
    const world = await seedBase(PEPPER);
    await growLinks(world, LINKS, SHORT_DOMAIN);
    await mongoose.disconnect();
    await ferret.stop();
    console.error(`seeded ${LINKS} links`);

    const port = await freePort();
    const server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
      env: {
        ...process.env,
        DATA_DIR: dataDir,
        API_KEY_PEPPER: PEPPER,
        SHORT_DOMAIN,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        RATE_LIMIT_PER_MINUTE: '1000000',
        ANONYMOUS_RATE_LIMIT_PER_MINUTE: '1000000',
        RATE_LIMIT_POINTS_PER_MINUTE: '100000000',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      for (let i = 0; ; i++) {
        const ready = await request(port, '/readyz', SHORT_DOMAIN).catch(() => 0);
        if (ready === 200) break;
        if (i > 600) throw new Error('the server did not become ready within 60 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      const idle = await rssMb(server.pid!);
      const samples: number[] = [];
      const counts = { redirects: 0, lists: 0, viewers: 0, errors: 0 };
      const until = Date.now() + SECONDS * 1000;
      const sampler = setInterval(() => void rssMb(server.pid!).then((mb) => samples.push(mb)), 1000);
      const list = JSON.stringify({ query: '{ links(first: 50) { edges { node { slug project { name } domain { hostname } createdBy { name } } } } }' });
      const viewer = JSON.stringify({ query: '{ viewer { user { email } } }' });
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, worker) => {
          for (let i = 0; Date.now() < until; i++) {
            try {
              if (LISTS && worker === 0 && i % 10 === 0) {
                counts.lists += (await request(port, '/graphql', SHORT_DOMAIN, list, world.secret)) === 200 ? 1 : 0;
              } else if (i % 10 === 1) {
                counts.viewers += (await request(port, '/graphql', SHORT_DOMAIN, viewer, world.secret)) === 200 ? 1 : 0;
              } else {
                // Every even filler link is on the short domain: walks the whole collection.
                const n = 2 * Math.floor(Math.random() * (LINKS / 2));
                counts.redirects += (await request(port, `/f${n}`, SHORT_DOMAIN)) === 302 ? 1 : 0;
              }
            } catch {
              counts.errors += 1;
            }
          }
        }),
      );
      clearInterval(sampler);
      const after = await rssMb(server.pid!);
      console.log(`### Node process memory (VmRSS), ${LINKS} links, ${SECONDS} s of load, ${CONCURRENCY} clients\n`);
      console.log('| idle after start | peak under load | after the load | redirects | link lists | viewer | errors |');
      console.log('|---|---|---|---|---|---|---|');
      console.log(`| ${idle.toFixed(0)} MB | ${Math.max(...samples).toFixed(0)} MB | ${after.toFixed(0)} MB | ${counts.redirects} | ${counts.lists} | ${counts.viewers} | ${counts.errors} |`);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
  } finally {
    agent.destroy();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
