import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ferretBinaryPath, findRunningEmbedded, freePort, startEmbeddedFerret } from '../src/db/embedded.ts';
import { ferretProcesses, httpOk, killSpawned, runCli, tempDir, waitFor } from './process.ts';

afterEach(killSpawned);

// These start the real server as a child process, each with its own embedded FerretDB.
describe('server process', () => {
  it('serves /healthz and /readyz, prints a demo key on first start, and stops on SIGTERM leaving no FerretDB', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const started = Date.now();
    const server = runCli(['serve'], { DATA_DIR: dataDir, PORT: String(port) });
    const health = await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), 15_000, '/healthz');
    const startMs = Date.now() - started;
    expect(health.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    expect(server.output()).toMatch(/Authorization: Bearer taapit_[0-9A-Za-z]{38}/);
    expect(ferretProcesses(dataDir)).toHaveLength(1);
    console.log(`[startup] server answered /healthz ${startMs} ms after spawn (tsx compile included)`);

    const stopAt = Date.now();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(5000);
    await waitFor(() => (ferretProcesses(dataDir).length === 0 ? true : undefined), 3000, 'FerretDB to exit');
    expect(server.output()).toContain('taapit-api stopped');

    // A second start on the same data prints no new key: the database is not empty.
    const again = runCli(['serve'], { DATA_DIR: dataDir, PORT: String(port) });
    await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), 15_000, '/healthz again');
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(0);
    expect(again.output()).not.toContain('Bearer taapit_');
  });

  it('leaves no FerretDB behind when the server is killed with SIGKILL', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const server = runCli(['serve'], { DATA_DIR: dataDir, PORT: String(port) });
    await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), 15_000, '/healthz');
    expect(ferretProcesses(dataDir)).toHaveLength(1);
    // tsx runs the server in a child node process: kill the whole group as a crash would.
    process.kill(-server.child.pid!, 'SIGKILL');
    await waitFor(() => (ferretProcesses(dataDir).length === 0 ? true : undefined), 5000, 'FerretDB to exit');
  });

  it('PORT in use: a clear message, exit code 1, checked before anything starts or is printed', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const dataDir = tempDir();
    const server = runCli(['serve'], { DATA_DIR: dataDir, PORT: String(port) });
    expect(await server.exited).toBe(1);
    expect(server.output()).toContain(`PORT ${port} on 127.0.0.1 is already in use`);
    expect(server.output()).not.toMatch(/\n\s+at /); // no stack trace
    // A fresh DATA_DIR: no demo key printed for a server that never ran, nothing created.
    expect(server.output()).not.toContain('Bearer');
    expect(fs.readdirSync(dataDir)).toEqual([]);
    expect(ferretProcesses(dataDir)).toHaveLength(0);
    blocker.close();
  });

  it('MONGODB_URI unreachable: fails within 10 s naming the host', async () => {
    const started = Date.now();
    const server = runCli(['serve'], { MONGODB_URI: 'mongodb://127.0.0.1:9/taapit', DB_TIMEOUT_MS: '3000', API_KEY_PEPPER: 'x'.repeat(40) });
    expect(await server.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(server.output()).toContain('cannot reach the database at 127.0.0.1:9');
  });

  it('DATA_DIR not writable: a clear message', async () => {
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, '');
    const server = runCli(['serve'], { DATA_DIR: path.join(file, 'data') });
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/DATA_DIR ".*a-file\/data" is not writable \(ENOTDIR\)/);
  });

  it('DATA_DIR not writable with MONGODB_URI (only the click journal lives there): a clear message', async () => {
    const ferret = await startEmbeddedFerret({ dataDir: tempDir() });
    try {
      const file = path.join(tempDir(), 'a-file');
      fs.writeFileSync(file, '');
      const server = runCli(['serve'], { DATA_DIR: path.join(file, 'data'), MONGODB_URI: ferret.uri('journal_dir'), API_KEY_PEPPER: 'x'.repeat(40), PORT: '0' });
      expect(await server.exited).toBe(1);
      expect(server.output()).toMatch(/DATA_DIR ".*a-file\/data" is not writable \(ENOTDIR\): the click journal is kept there/);
      expect(server.output()).not.toMatch(/\n\s+at /);
    } finally {
      await ferret.stop();
    }
  });

  it("a stale ferretdb.json naming another DATA_DIR's FerretDB is not attached to", async () => {
    const mine = tempDir();
    const other = tempDir();
    const ferret = await startEmbeddedFerret({ dataDir: other });
    try {
      // What a server of `mine` that died leaves behind, once its port went to `other`'s FerretDB.
      const state = fs.readFileSync(path.join(other, 'ferretdb.json'), 'utf8');
      fs.writeFileSync(path.join(mine, 'ferretdb.json'), state);
      expect(await findRunningEmbedded(mine)).toBeNull();
      expect((await findRunningEmbedded(other))?.port).toBe(ferret.port);
    } finally {
      await ferret.stop();
    }
    expect(await findRunningEmbedded(other)).toBeNull();
  });

  it('FerretDB not built and Go missing: says to install Go or set MONGODB_URI', async () => {
    const pathWithoutGo = (process.env.PATH ?? '')
      .split(':')
      .filter((dir) => !fs.existsSync(path.join(dir, 'go')))
      .join(':');
    const server = runCli(['serve'], { DATA_DIR: tempDir(), FERRETDB_CACHE_DIR: tempDir(), PATH: pathWithoutGo });
    expect(await server.exited).toBe(1);
    expect(server.output()).toContain('Go is not installed: install Go (https://go.dev/dl) or set MONGODB_URI');
  });

  it('a damaged FerretDB binary: one line naming it and how to rebuild it', async () => {
    const cache = tempDir();
    const binary = path.join(cache, path.basename(ferretBinaryPath()));
    fs.writeFileSync(binary, 'not an executable\n', { mode: 0o755 });
    const server = runCli(['serve'], { DATA_DIR: tempDir(), FERRETDB_CACHE_DIR: cache, PORT: '0' });
    expect(await server.exited).toBe(1);
    expect(server.output()).toContain(`If its binary ${binary} is damaged, delete it and run \`npm run build:ferretdb\``);
    expect(server.output()).not.toMatch(/\n\s+at /);
  });

  it('a bad environment value stops start-up with one line', async () => {
    const server = runCli(['serve'], { PORT: 'eighty' });
    expect(await server.exited).toBe(1);
    expect(server.output().trim()).toBe('taapit-api: PORT="eighty" is invalid: expected a whole number from 0 to 65535.');
  });

  it('production without API_KEY_PEPPER refuses to start', async () => {
    const server = runCli(['serve'], { NODE_ENV: 'production', DATA_DIR: tempDir(), API_KEY_PEPPER: '' });
    expect(await server.exited).toBe(1);
    expect(server.output()).toContain('API_KEY_PEPPER is not set');
  });
});
