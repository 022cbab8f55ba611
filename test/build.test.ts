import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { freePort } from '../src/db/embedded.ts';
import { ROOT, ferretProcesses, httpOk, killSpawned, runNode, tempDir, waitFor } from './process.ts';

afterEach(killSpawned);

const run = promisify(execFile);

// `npm run build`, then plain `node`: no TypeScript runner. The output goes where a deployment has it,
// next to package.json (ES modules), node_modules and scripts/ (FerretDB's build files, read at
// run time), and without src/, so nothing can load a .ts file by accident.
function deployment(): string {
  const app = tempDir('taapit-build-');
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'));
  fs.symlinkSync(path.join(ROOT, 'scripts'), path.join(app, 'scripts'));
  // Copied, not linked: node resolves a linked entry point to its target, i.e. back to ROOT.
  fs.mkdirSync(path.join(app, 'bin'));
  fs.copyFileSync(path.join(ROOT, 'bin/taapit-api.js'), path.join(app, 'bin/taapit-api.js'));
  return app;
}

it('the build runs on plain node: server on the embedded database, GraphiQL, the CLI through bin/', async () => {
  const app = deployment();
  // `npm run build` without its `rm -rf dist` (a developer's dist/ stays) and without type-checking
  // (`npm test` does that): this is about what the build emits.
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', path.join(app, 'dist'), '--noCheck'], { cwd: ROOT });
  expect(fs.existsSync(path.join(app, 'dist/main.js'))).toBe(true);

  const dataDir = path.join(app, 'data');
  const port = await freePort();
  // Its own embedded FerretDB under DATA_DIR, even when the suite runs against MONGODB_URI.
  const env = {
    DATA_DIR: dataDir,
    PORT: String(port),
    MONGODB_URI: undefined,
    NODE_ENV: 'production',
    API_KEY_PEPPER: 'p'.repeat(40),
    SHUTDOWN_TIMEOUT_MS: '3000',
  };
  const server = runNode(path.join(app, 'dist/main.js'), ['serve'], env, app);
  const ready = await waitFor(
    async () => ((await httpOk(`http://127.0.0.1:${port}/readyz`))?.status === 200 ? true : undefined),
    30_000,
    '/readyz of the built server',
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${server.output()}`);
  });
  expect(ready).toBe(true);

  const cli = (args: string[]) =>
    run(process.execPath, [path.join(app, 'bin/taapit-api.js'), ...args], { cwd: app, env: { ...process.env, ...env } });
  await cli(['user', 'create', '--email', 'ops@example.com', '--name', 'Ops']);
  const key = (await cli(['key', 'create', '--email', 'ops@example.com', '--name', 'deploy', '--permission', 'FULL'])).stdout.trim();
  expect(key).toMatch(/^taapit_\w+$/);

  const graphql = (query: string, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query }),
    }).then((res) => res.json());
  // Every answer also carries extensions.cost (test/cost.test.ts checks it).
  expect((await graphql('{ __typename }')).data).toEqual({ __typename: 'Query' });
  expect((await graphql('{ viewer { user { email } } }', { authorization: `Bearer ${key}` })).data).toEqual({
    viewer: { user: { email: 'ops@example.com' } },
  });
  // GraphiQL's page is rendered by a module loaded on first use.
  const page = await fetch(`http://127.0.0.1:${port}/graphql`, { headers: { accept: 'text/html' } });
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('graphiql');

  // A build older than the sources would run code that no longer exists: bin/ runs the sources.
  fs.cpSync(path.join(ROOT, 'src'), path.join(app, 'src'), { recursive: true });
  const stale = await cli(['--help']);
  expect(stale.stderr).toContain('dist/ is older than src/');
  expect(stale.stdout).toContain('Usage: taapit-api');

  process.kill(-server.child.pid!, 'SIGTERM');
  expect(await server.exited).toBe(0);
  expect(ferretProcesses(dataDir)).toEqual([]);
  fs.rmSync(app, { recursive: true, force: true });
}, 90_000);
