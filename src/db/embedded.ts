import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const buildScript = path.join(projectRoot, 'scripts/build-ferretdb.sh');
// The version and patch level are defined once, in the file the build script sources.
const buildEnvFile = path.join(projectRoot, 'scripts/ferretdb/build.env');

export class EmbeddedDbError extends Error {
  override name = 'EmbeddedDbError';
}

/** `ferretdb-<version>-<build>`: the cached binary's name, so a new patch level gets a fresh build. */
export function ferretBinaryName(): string {
  const vars = Object.fromEntries(
    [...readFileSync(buildEnvFile, 'utf8').matchAll(/^(FERRETDB_\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]),
  );
  if (!vars.FERRETDB_VERSION || !vars.FERRETDB_BUILD) {
    throw new EmbeddedDbError(`${buildEnvFile} must set FERRETDB_VERSION and FERRETDB_BUILD.`);
  }
  return `ferretdb-${vars.FERRETDB_VERSION}-${vars.FERRETDB_BUILD}`;
}

export function ferretBinaryPath(env: NodeJS.ProcessEnv = process.env): string {
  const cacheDir =
    env.FERRETDB_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'taapit-api');
  return path.join(cacheDir, ferretBinaryName());
}

/** Returns the cached FerretDB binary, building it once (about a minute or two) when missing. */
export async function ensureFerretBinary(): Promise<string> {
  const bin = ferretBinaryPath();
  try {
    await fs.access(bin, fsConstants.X_OK);
    return bin;
  } catch {
    // not built yet
  }
  const child = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code === 3) {
    throw new EmbeddedDbError(
      'FerretDB is not built and Go is not installed: install Go (https://go.dev/dl) or set MONGODB_URI to use an existing MongoDB.',
    );
  }
  if (code !== 0) throw new EmbeddedDbError(`building FerretDB failed (exit ${code}); see the output above.`);
  return out.trim().split('\n').pop() ?? bin;
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
    const probe = path.join(dir, `.write-test-${process.pid}`);
    await fs.writeFile(probe, '');
    await fs.rm(probe);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new EmbeddedDbError(
      `DATA_DIR ${JSON.stringify(path.dirname(dir))} is not writable (${reason}): choose a directory this user can write, e.g. DATA_DIR=./data, or set MONGODB_URI.`,
    );
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface EmbeddedServer {
  /** Base URI without a database name, e.g. mongodb://127.0.0.1:PORT */
  hostUri: string;
  port: number;
  uri(dbName: string): string;
  stop(): Promise<void>;
}

// The watchdog shell keeps FerretDB tied to our life: its stdin is a pipe from this
// process, and when that pipe closes (we exited, crashed or were SIGKILLed) it stops FerretDB.
const WATCHDOG = `
exec 3<&0
"$@" </dev/null &
child=$!
( cat <&3 >/dev/null; kill -TERM "$child" 2>/dev/null ) &
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
status=$?
wait "$child" 2>/dev/null
exit $status
`;

export interface StartEmbeddedOptions {
  dataDir: string;
  port?: number;
  startTimeoutMs?: number;
}

/** Starts FerretDB on a free loopback port with its SQLite files under dataDir/ferretdb. */
export async function startEmbeddedFerret(options: StartEmbeddedOptions): Promise<EmbeddedServer> {
  const sqliteDir = path.join(path.resolve(options.dataDir), 'ferretdb');
  await ensureWritableDir(sqliteDir);
  const bin = await ensureFerretBinary();
  const port = options.port ?? (await freePort());
  const args = [
    '--handler=sqlite',
    `--sqlite-url=file:${sqliteDir}/`,
    `--listen-addr=127.0.0.1:${port}`,
    '--mode=normal',
    '--state-dir=-',
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=warn',
  ];
  const child: ChildProcess = spawn('sh', ['-c', WATCHDOG, 'ferretdb-watchdog', bin, ...args], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));

  const hostUri = `mongodb://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  for (;;) {
    if (!running) {
      throw new EmbeddedDbError(`FerretDB exited during start-up: ${stderrTail.trim() || 'no output'}`);
    }
    if (await pingOnce(`${hostUri}/admin?directConnection=true`)) break;
    if (Date.now() > deadline) {
      child.stdin?.end();
      child.kill('SIGTERM');
      throw new EmbeddedDbError(`FerretDB did not answer a ping on 127.0.0.1:${port} within ${options.startTimeoutMs ?? 20_000} ms.`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const stateFile = path.join(path.resolve(options.dataDir), 'ferretdb.json');
  await fs.writeFile(stateFile, JSON.stringify({ port, pid: child.pid }));
  return {
    hostUri,
    port,
    uri: (dbName) => `${hostUri}/${dbName}?directConnection=true&retryWrites=false`,
    async stop() {
      await fs.rm(stateFile, { force: true });
      if (!running) return;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGTERM'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function pingOnce(uri: string): Promise<boolean> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => {});
  }
}

/** The embedded server a running taapit-api started on this DATA_DIR, if it answers. */
export async function findRunningEmbedded(dataDir: string): Promise<Pick<EmbeddedServer, 'hostUri' | 'port' | 'uri'> | null> {
  let port: number;
  try {
    port = JSON.parse(await fs.readFile(path.join(path.resolve(dataDir), 'ferretdb.json'), 'utf8')).port;
  } catch {
    return null;
  }
  const hostUri = `mongodb://127.0.0.1:${port}`;
  if (!(await pingOnce(`${hostUri}/admin?directConnection=true`))) return null;
  return { hostUri, port, uri: (dbName) => `${hostUri}/${dbName}?directConnection=true&retryWrites=false` };
}
