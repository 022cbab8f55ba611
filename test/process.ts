import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
