import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { httpOk, ROOT, tempDir, waitFor } from './process.ts';

// The real CLI and server processes, their stdout and stderr kept apart: what a log collector and
// a person at a terminal see. Logs are one JSON object per line; nothing prints raw warnings.

interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

const started = new Set<ChildProcess>();

afterEach(() => {
  for (const child of started) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  started.clear();
});

function cli(args: string[], env: Record<string, string>, preload: string[] = []): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload.flatMap((file) => ['--import', file]), 'src/main.ts', ...args], {
    detached: true,
    cwd: ROOT,
    env: { ...process.env, MONGODB_URI: undefined, NODE_ENV: 'test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function command(args: string[], env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  const run = cli(args, env);
  const code = await run.exited;
  expect(code, `${args.join(' ')}: ${run.stderr()}`).toBe(0);
  return { stdout: run.stdout(), stderr: run.stderr() };
}

const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');
/** What node, mongoose or the driver print when they warn: `(node:123) [MONGOOSE] DeprecationWarning: …`. */
const RAW_WARNING = /\(node:\d+\)|warning|deprecat/i;

describe('logs and stderr of the real processes', () => {
  it('the server logs only JSON lines and the CLI prints no warnings, across writes and a key deactivation', { timeout: 120_000 }, async () => {
    const dataDir = tempDir();
    const env = { DATA_DIR: dataDir };
    const cliErrors: string[] = [];

    await command(['user', 'create', '--email', 'logs@example.com', '--name', 'Logs'], env).then((r) => cliErrors.push(r.stderr));
    const full = await command(['key', 'create', '--email', 'logs@example.com', '--name', 'full', '--permission', 'FULL'], env);
    cliErrors.push(full.stderr);
    const key = full.stdout.trim();
    expect(key).toMatch(/^taapit_\w+$/);

    const port = await freePort();
    // A warning as node, mongoose or the driver would emit one, on demand once the server runs.
    const preload = path.join(dataDir, 'warn-on-sigusr2.mjs');
    fs.writeFileSync(preload, "process.on('SIGUSR2', () => process.emitWarning('a test warning', { type: 'TestWarning', code: 'TAAPIT_TEST' }));\n");
    // A user exists, so no demo banner: everything on stdout is the log.
    const server = cli(['serve'], { ...env, PORT: String(port) }, [preload]);
    await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), 30_000, '/healthz');
    const gql = async (query: string, variables: Record<string, unknown> = {}, bearer = key) => {
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
    };

    const workspace = await gql('mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { ... on WorkspacePayload { workspace { id } } } }', { i: { name: 'Logs' } });
    const workspaceId = workspace.data?.createWorkspace.workspace.id;
    expect(workspaceId, JSON.stringify(workspace)).toBeTruthy();
    const link = await gql('mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { id } } } }', {
      i: { workspaceId, url: 'https://example.com/a', slug: 'logs-a' },
    });
    const linkId = link.data?.createLink.link.id;
    expect(linkId, JSON.stringify(link)).toBeTruthy();
    const updated = await gql('mutation($i: UpdateLinkInput!) { updateLink(input: $i) { __typename } }', { i: { id: linkId, url: 'https://example.com/b' } });
    expect(updated.data?.updateLink.__typename).toBe('LinkPayload');
    const second = await gql('mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { ... on CreateApiKeyPayload { apiKey { id } secret } } }', {
      i: { name: 'second', permission: 'READ_ONLY' },
    });
    const secondId = second.data?.createApiKey.apiKey.id;
    const deactivated = await gql('mutation($i: ApiKeyIdInput!) { deactivateApiKey(input: $i) { __typename } }', { i: { id: secondId } });
    expect(deactivated.data?.deactivateApiKey.__typename).toBe('ApiKeyPayload');
    // Refusals are logged too: a deactivated key, a malformed one.
    expect((await gql('{ viewer { id } }', {}, second.data?.createApiKey.secret)).errors).toBeDefined();
    expect((await gql('{ viewer { id } }', {}, 'taapit_nope')).errors).toBeDefined();
    // The CLI on the database the server is using: another key, created and deactivated.
    const third = await command(['key', 'create', '--email', 'logs@example.com', '--name', 'third', '--permission', 'READ_ONLY'], env);
    cliErrors.push(third.stderr);
    const thirdId = /\bid ([^\s,)]+)/.exec(third.stderr)?.[1];
    expect(thirdId, third.stderr).toBeTruthy();
    cliErrors.push((await command(['key', 'deactivate', '--id', thirdId!], env)).stderr);
    expect((await fetch(`http://127.0.0.1:${port}/logs-a`, { redirect: 'manual' })).status).toBe(302);
    process.kill(server.child.pid!, 'SIGUSR2');
    const warned = await waitFor(() => lines(server.stdout()).find((line) => line.includes('TAAPIT_TEST')), 5000, 'the warning in the log');
    expect(JSON.parse(warned)).toMatchObject({ level: 40, warning: { name: 'TestWarning', code: 'TAAPIT_TEST', message: 'a test warning' } });

    process.kill(server.child.pid!, 'SIGTERM');
    expect(await server.exited).toBe(0);

    const logLines = lines(server.stdout());
    expect(logLines.length).toBeGreaterThan(5);
    for (const line of logLines) {
      let parsed: unknown;
      expect(() => (parsed = JSON.parse(line)), `not JSON: ${line}`).not.toThrow();
      expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), line).toBe(true);
      expect(line, 'a deprecation in the log').not.toMatch(/deprecat/i);
      expect(line, 'a key secret in the log').not.toContain(key);
    }
    // stderr carries the one line for the person who started the server, nothing else.
    expect(lines(server.stderr()), server.stderr()).toEqual([expect.stringMatching(/^taapit-api on http:\/\/\S+\/graphql \(GraphiQL in a browser\); Ctrl\+C stops it\.$/)]);
    for (const text of cliErrors) {
      expect(lines(text).length, text).toBeGreaterThan(0);
      for (const line of lines(text)) expect(line, 'a warning on the CLI stderr').not.toMatch(RAW_WARNING);
    }
  });
});
