import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/db/embedded.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Spawned {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

const spawned = new Set<ChildProcess>();

/** Kills every CLI process a test started and did not stop (a failed test must not leak servers). */
export function killSpawned(): void {
  for (const child of spawned) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawned.clear();
}

/**
 * Runs the real CLI (`src/main.ts`) as one node process, as `npm start` does, in its own process
 * group (so a test can signal the group like Ctrl+C does).
 */
export function runCli(args: string[], env: Record<string, string | undefined>): Spawned {
  return spawnTracked(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], env);
}

/** `npm start` in its own process group: npm, the shell it runs the script in, and the server. */
export function runNpmStart(env: Record<string, string | undefined>): Spawned {
  return spawnTracked('npm', ['start', '--silent'], env);
}

/** `node <file> <args>` from the directory `cwd`, in its own process group (a built server, say). */
export function runNode(file: string, args: string[], env: Record<string, string | undefined>, cwd: string): Spawned {
  return spawnTracked(process.execPath, [file, ...args], env, cwd);
}

function spawnTracked(command: string, args: string[], env: Record<string, string | undefined>, cwd = ROOT): Spawned {
  const child = spawn(command, args, {
    detached: true,
    cwd,
    env: { ...process.env, MONGODB_URI: undefined, NODE_ENV: 'test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Kept after exit: `npm start`'s group may outlive npm itself.
  spawned.add(child);
  return { child, output: () => text, exited };
}

export function tempDir(prefix = 'taapit-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** FerretDB processes whose SQLite directory is under `dataDir`. */
export function ferretProcesses(dataDir: string): string[] {
  try {
    // Anchored on the binary path so the watchdog shell wrapping it does not count.
    return execFileSync('pgrep', ['-f', `^/\\S+/ferretdb-v\\S+ --handler=sqlite --sqlite-url=file:${dataDir}`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function httpOk(url: string): Promise<Response | undefined> {
  try {
    return await fetch(url);
  } catch {
    return undefined;
  }
}

/** A real server process on a free port, answering /healthz; `key` is the demo key it printed on a fresh DATA_DIR ('' otherwise). */
export interface Started {
  server: Spawned;
  port: number;
  dataDir: string;
  key: string;
}

/** Starts `taapit-api serve` (or `npm start`) on a free port with SHUTDOWN_TIMEOUT_MS=3000 unless `env` says otherwise. */
export async function startServer(options: { npm?: boolean; dataDir?: string; env?: Record<string, string> } = {}): Promise<Started> {
  const dataDir = options.dataDir ?? tempDir();
  const port = await freePort();
  const env = { DATA_DIR: dataDir, PORT: String(port), SHUTDOWN_TIMEOUT_MS: '3000', ...options.env };
  const server = options.npm ? runNpmStart(env) : runCli(['serve'], env);
  await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), 20_000, '/healthz');
  const key = /Bearer (taapit_\w+)/.exec(server.output())?.[1] ?? '';
  return { server, port, dataDir, key };
}

/** One request on 127.0.0.1 with the platform's own short host, so redirects resolve. */
export function request(
  port: number,
  pathname: string,
  options: { method?: string; body?: string; headers?: Record<string, string>; agent?: http.Agent } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: pathname, method: options.method ?? 'GET', agent: options.agent, headers: { Host: `localhost:${port}`, ...options.headers } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
