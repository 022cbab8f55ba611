import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

export interface Spawned {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

const spawned = new Set<ChildProcess>();

/** Kills every CLI process a test started and did not stop (a failed test must not leak servers). */
export function killSpawned(): void {
  for (const child of spawned) child.kill('SIGKILL');
}

/** Runs the real CLI (`src/main.ts`) as a child process. */
export function runCli(args: string[], env: Record<string, string | undefined>): Spawned {
  const child = spawn(TSX, ['src/main.ts', ...args], {
    detached: true,
    cwd: ROOT,
    env: { ...process.env, MONGODB_URI: undefined, NODE_ENV: 'test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  spawned.add(child);
  void exited.then(() => spawned.delete(child));
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
