import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { httpOk, killSpawned, runCli, tempDir, waitFor } from './process.ts';

afterEach(killSpawned);

async function cli(args: string[], env: Record<string, string>) {
  const run = runCli(args, env);
  const code = await run.exited;
  return { code, output: run.output() };
}

/** stdout only, for commands whose stdout must carry just the secret. */
async function cliStdout(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  const run = runCli(args, env);
  let stdout = '';
  run.child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return { code: await run.exited, stdout };
}

describe('CLI (the real bin, on its own embedded database)', () => {
  it('user create, key create (secret alone on stdout), key list, key deactivate', async () => {
    const env = { DATA_DIR: tempDir() };
    expect((await cli(['user', 'create', '--email', 'Ada@Example.com', '--name', 'Ada'], env)).code).toBe(0);
    const duplicate = await cli(['user', 'create', '--email', 'ada@example.com', '--name', 'Ada'], env);
    expect(duplicate.code).toBe(1);
    expect(duplicate.output).toContain('a user with e-mail ada@example.com already exists');

    const created = await cliStdout(['key', 'create', '--email', 'ada@example.com', '--name', 'deploy', '--permission', 'LIMITED', '--scope', 'LINKS:WRITE', '--expires-in', '30d'], env);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^taapit_[0-9A-Za-z]{38}\n$/);

    const list = await cli(['key', 'list', '--email', 'ada@example.com'], env);
    expect(list.code).toBe(0);
    expect(list.output).toMatch(/^ID\s+STATUS\s+PERMISSION\s+HINT\s+EXPIRES\s+LAST USED\s+USES\s+NAME$/m);
    expect(list.output).toMatch(/ACTIVE\s+LIMITED\s+taapit_\w{4}…\w{4}\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+never\s+0\s+deploy/);
    expect(list.output).not.toContain(created.stdout.trim());
    // The API's global id (base64 of "ApiKey:<hex>"), first on the row.
    const id = /^(\S+)\s+ACTIVE/m.exec(list.output)![1]!;
    expect(Buffer.from(id, 'base64').toString()).toMatch(/^ApiKey:[0-9a-f]{24}$/);

    expect((await cli(['key', 'deactivate', '--id', id], env)).code).toBe(0);
    expect((await cli(['key', 'list', '--email', 'ada@example.com'], env)).output).toMatch(/DEACTIVATED\s+LIMITED/);

    const workspace = await cliStdout(['workspace', 'create', '--user', 'ada@example.com', '--name', 'Acme'], env);
    expect(workspace.code).toBe(0);
    expect(Buffer.from(workspace.stdout.trim(), 'base64').toString()).toMatch(/^Workspace:[0-9a-f]{24}$/);
  }, 120_000);

  it('explains bad input in one line with exit code 2', async () => {
    const env = { DATA_DIR: tempDir() };
    const badScope = await cli(['key', 'create', '--email', 'a@b.co', '--name', 'x', '--permission', 'LIMITED', '--scope', 'LINKS:ADMIN'], env);
    expect(badScope.code).toBe(2);
    expect(badScope.output.trim()).toMatch(/^taapit-api: --scope "LINKS:ADMIN" is invalid/);
    const badExpiry = await cli(['key', 'create', '--email', 'a@b.co', '--name', 'x', '--permission', 'FULL', '--expires-in', 'soon'], env);
    expect(badExpiry.output).toContain('--expires-in "soon" is invalid');
    const unknown = await cli(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain('unknown command "frobnicate"');
    const negative = await cli(['key', 'create', '--email', 'a@b.co', '--name', 'x', '--permission', 'FULL', '--expires-in', '-5d'], env);
    expect(negative.code).toBe(2);
    expect(negative.output.trim()).toMatch(/^taapit-api: --expires-in "-5d" is invalid: .* e\.g\. 30d/);
    const help = await cliStdout(['key', 'create', '--help'], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: taapit-api key create --email E/);
  }, 120_000);

  it('seed-demo prints a working key; the CLI shares a running server’s database', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const server = runCli(['serve'], { DATA_DIR: dataDir, PORT: String(port) });
    await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), 15_000, 'server');
    const seeded = await cliStdout(['seed-demo'], { DATA_DIR: dataDir });
    expect(seeded.code).toBe(0);
    const key = seeded.stdout.trim();
    const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ viewer { user { email } } }' }),
    });
    expect((await response.json()).data).toEqual({ viewer: { user: { email: 'demo@taapit.local' } } });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
