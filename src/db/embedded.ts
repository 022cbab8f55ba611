import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, existsSync, readFileSync } from 'node:fs';
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
  /** Receives the supervisor's log lines (crash, each restart attempt, recovery). */
  onEvent(listener: (event: EmbeddedEvent) => void): void;
  /** How many times it exited on its own and answered again after a restart. */
  readonly restarts: number;
  stop(): Promise<void>;
}

/** A line for the server's log: what happened to the embedded database. */
export interface EmbeddedEvent {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
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
  /** Restart FerretDB when it exits on its own (default true). */
  supervise?: boolean;
}

/** First wait before restarting a crashed FerretDB; doubled per failed attempt up to the maximum. */
export const RESTART_FIRST_DELAY_MS = 200;
export const RESTART_MAX_DELAY_MS = 5000;

interface FerretProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  running(): boolean;
  stderrTail(): string;
}

function launch(bin: string, args: string[]): FerretProcess {
  // Its own process group (detached): Ctrl+C or systemd's SIGINT to ours must not stop the
  // database before our final flush; we stop it last, and the watchdog stops it if we die.
  const child: ChildProcess = spawn('sh', ['-c', WATCHDOG, 'ferretdb-watchdog', bin, ...args], {
    stdio: ['pipe', 'ignore', 'pipe'],
    detached: true,
  });
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-2000);
  });
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running = false;
      resolve(code);
    }),
  );
  // Its last lines say why it stopped; earlier ones are usually unrelated warnings.
  const lastLines = () => stderrTail.trim().split('\n').slice(-3).join('\n').slice(-600);
  return { child, exited, running: () => running, stderrTail: lastLines };
}

/** Ends a launched FerretDB: closing the pipe makes the watchdog stop it; SIGKILL to its group if that hangs. */
async function terminate(proc: FerretProcess, graceMs = 2000): Promise<void> {
  // Always: the watchdog's pipe reader outlives a FerretDB that exited by itself.
  proc.child.stdin?.end();
  if (!proc.running()) return;
  const timer = setTimeout(() => {
    try {
      process.kill(-proc.child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Waits until FerretDB answers a ping: false when it exits or the deadline passes first. */
async function becomesReady(proc: FerretProcess, hostUri: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.running()) return false;
    if (await pingOnce(`${hostUri}/admin?directConnection=true`)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts FerretDB on a free loopback port with its SQLite files under dataDir/ferretdb and, unless
 * told otherwise, supervises it: when it exits on its own it is restarted on the same port and
 * data (waits of 0.2 s doubling to 5 s between attempts), so the driver reconnects by itself.
 */
export async function startEmbeddedFerret(options: StartEmbeddedOptions): Promise<EmbeddedServer> {
  const sqliteDir = path.join(path.resolve(options.dataDir), 'ferretdb');
  await ensureWritableDir(sqliteDir);
  const bin = await ensureFerretBinary();
  const port = options.port ?? (await freePort());
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
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
  const hostUri = `mongodb://127.0.0.1:${port}`;
  const stateFile = path.join(path.resolve(options.dataDir), 'ferretdb.json');

  let current = launch(bin, args);
  if (!(await becomesReady(current, hostUri, startTimeoutMs))) {
    const exitedByItself = !current.running();
    await terminate(current);
    if (exitedByItself) {
      throw new EmbeddedDbError(
        `FerretDB exited during start-up: ${current.stderrTail() || 'no output'}. If its binary ${bin} is damaged, delete it and run \`npm run build:ferretdb\` (or set MONGODB_URI).`,
      );
    }
    throw new EmbeddedDbError(`FerretDB did not answer a ping on 127.0.0.1:${port} within ${startTimeoutMs} ms.`);
  }
  await fs.writeFile(stateFile, JSON.stringify({ port, pid: current.child.pid }));

  const listeners: ((event: EmbeddedEvent) => void)[] = [];
  const emit = (level: EmbeddedEvent['level'], message: string, fields: Record<string, unknown>) => {
    for (const listener of listeners) listener({ level, message, fields });
  };
  let stopping = false;
  let restarts = 0;
  let wakeUp: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const restart = async () => {
    const crashedAt = Date.now();
    for (let attempt = 1, delay = RESTART_FIRST_DELAY_MS; ; attempt += 1, delay = Math.min(delay * 2, RESTART_MAX_DELAY_MS)) {
      await pause(delay);
      if (stopping) return;
      emit('info', 'restarting embedded FerretDB', { attempt, afterMs: delay, port });
      const proc = launch(bin, args);
      current = proc;
      const ready = await becomesReady(proc, hostUri, startTimeoutMs);
      if (stopping) return;
      if (ready) {
        await fs.writeFile(stateFile, JSON.stringify({ port, pid: proc.child.pid })).catch(() => {});
        restarts += 1;
        emit('info', 'embedded FerretDB restarted', { attempt, port, downMs: Date.now() - crashedAt });
        watch(proc);
        return;
      }
      emit('error', 'embedded FerretDB restart failed', { attempt, port, output: proc.stderrTail() || undefined });
      await terminate(proc);
    }
  };
  const watch = (proc: FerretProcess) => {
    void proc.exited.then((code) => {
      if (stopping || proc !== current) return;
      // Let the old watchdog's pipe reader go.
      proc.child.stdin?.end();
      emit('warn', 'embedded FerretDB exited unexpectedly; restarting it', { code, port, output: proc.stderrTail() || undefined });
      void restart();
    });
  };
  if (options.supervise ?? true) watch(current);

  return {
    hostUri,
    port,
    get restarts() {
      return restarts;
    },
    uri: (dbName) => `${hostUri}/${dbName}?directConnection=true&retryWrites=false`,
    onEvent: (listener) => void listeners.push(listener),
    async stop() {
      stopping = true;
      wakeUp?.();
      await fs.rm(stateFile, { force: true });
      await terminate(current);
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
/** Whether process `pid` is the FerretDB (or its watchdog) started on dataDir's SQLite files. */
async function servesDataDir(pid: unknown, dataDir: string): Promise<boolean> {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  const expected = `--sqlite-url=file:${path.join(path.resolve(dataDir), 'ferretdb')}/`;
  try {
    return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').includes(expected);
  } catch (error) {
    // Without /proc (not Linux) the answer to a ping is all there is; a missing process is not it.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existsSync('/proc/self')) return false;
    return true;
  }
}

export async function findRunningEmbedded(dataDir: string): Promise<Pick<EmbeddedServer, 'hostUri' | 'port' | 'uri'> | null> {
  let port: number;
  let pid: number;
  try {
    ({ port, pid } = JSON.parse(await fs.readFile(path.join(path.resolve(dataDir), 'ferretdb.json'), 'utf8')));
  } catch {
    return null;
  }
  // A file left by a server that died names a port another DATA_DIR's FerretDB may hold now: the
  // recorded process must still be alive and serve this directory's files.
  if (!(await servesDataDir(pid, dataDir))) return null;
  const hostUri = `mongodb://127.0.0.1:${port}`;
  if (!(await pingOnce(`${hostUri}/admin?directConnection=true`))) return null;
  return { hostUri, port, uri: (dbName) => `${hostUri}/${dbName}?directConnection=true&retryWrites=false` };
}
