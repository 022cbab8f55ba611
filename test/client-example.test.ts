import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import codegenConfig from '../examples/client/codegen.ts';
import { createTestApp, gid, gql, listenOnSocket, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';
import { ROOT } from './process.ts';

// examples/client is documentation that runs: its generated types must match schema.graphql, it
// must type-check, and its script must work against a real server.

const EXAMPLE = path.join(ROOT, 'examples/client');

/** Runs a node process without blocking this one (the server under test lives here). */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

describe('examples/client stays true', () => {
  it('its committed gql/ is exactly what codegen writes from schema.graphql (run `npm run codegen:client`)', async () => {
    const outputs: { filename: string; content: string }[] = await generate({ ...codegenConfig, cwd: ROOT, silent: true }, false);
    const generated = Object.fromEntries(outputs.map((o) => [path.relative(ROOT, path.resolve(ROOT, o.filename)), o.content]));
    const committed = Object.fromEntries(
      fs.readdirSync(path.join(EXAMPLE, 'gql')).map((name) => [`examples/client/gql/${name}`, fs.readFileSync(path.join(EXAMPLE, 'gql', name), 'utf8')]),
    );
    expect(Object.keys(generated).sort()).toEqual(Object.keys(committed).sort());
    for (const [file, content] of Object.entries(generated)) expect(committed[file], `${file} is stale: run npm run codegen:client`).toBe(content);
  });

  it('type-checks (a union member the script does not handle fails here)', async () => {
    const tsc = await run([path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', path.join(EXAMPLE, 'tsconfig.json')]);
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
  });
});

describe('the example script against a running server', () => {
  const { db } = useTestDatabase();
  let t: TestApp;
  let socket: Awaited<ReturnType<typeof listenOnSocket>>;
  let key: string;
  let email: string;
  const slugs: string[] = [];

  beforeAll(async () => {
    t = createTestApp(db());
    socket = await listenOnSocket(t.app);
    const user = await makeUser('client');
    email = user.email;
    const workspace = await makeWorkspace(user, 'Acme');
    key = (await makeKey(user)).secret;
    for (let i = 1; i <= 5; i++) {
      const created = await gql(
        t.app,
        'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { slug } } } }',
        { i: { workspaceId: gid('Workspace', workspace._id), url: `https://example.com/${i}`, slug: `seeded-${i}` } },
        { key },
      );
      slugs.push(created.body.data.createLink.link.slug);
    }
    // Three clicks by people (two from one referrer) and one by a script, on the third link.
    const browser = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
    const visits: Record<string, string>[] = [
      { 'user-agent': browser, referer: 'https://news.example/a' },
      { 'user-agent': browser, referer: 'https://news.example/b' },
      { 'user-agent': browser },
      { 'user-agent': 'curl/8.5.0' },
    ];
    for (const headers of visits) {
      expect(await redirect('/seeded-3', headers)).toBe(302);
    }
    await t.services.clicks.flush();
  });
  afterAll(async () => {
    await socket.close();
    await t.close();
  });

  function redirect(pathname: string, headers: Record<string, string>): Promise<number> {
    const { port } = new URL(socket.url);
    return new Promise((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port, path: pathname, headers: { host: 'tpt.test', ...headers }, agent: false }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      request.on('error', reject).end();
    });
  }

  const script = (env: Record<string, string>) => run(['--import', 'tsx', path.join(EXAMPLE, 'index.ts')], env);

  it('pages every link, reads the stats of the most clicked one and reports the taken slug as a typed ConflictError', async () => {
    const result = await script({ TAAPIT_API_URL: `${socket.url}/graphql`, TAAPIT_API_KEY: key, TAAPIT_PAGE_SIZE: '2' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^key taapit_\\w{4}…\\w{4} \\(FULL\\) of ${email.replace(/[.]/g, '\\.')}$`));
    expect(lines.slice(1, 4)).toEqual([
      'workspace Acme (OWNER)',
      'links: 5 of 5, in 3 pages of at most 2',
      'most clicked: https://tpt.test/seeded-3 -> https://example.com/3: 3 clicks, 1 bot clicks in 30 days, top referrer news.example (2)',
    ]);
    const slug = /^createLink (client-example-\w+) \(first\): created https:\/\/tpt\.test\/client-example-\w+$/.exec(lines[4]!)?.[1];
    expect(slug, lines[4]).toBeDefined();
    expect(lines[5]).toMatch(new RegExp(`^createLink ${slug} \\(again\\): ConflictError on input\\.slug: .+`));
    expect(lines).toHaveLength(6);
    expect(await Link.countDocuments({ slug })).toBe(1);
    expect(result.stdout).not.toContain(key);
  });

  it('a refused key is one line naming the HTTP status and the code, exit 1; a missing setting is exit 2', async () => {
    const wrong = `${key.slice(0, -6)}AAAAAA`;
    const refused = await script({ TAAPIT_API_URL: socket.url, TAAPIT_API_KEY: wrong });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^refused \(HTTP 401, UNAUTHENTICATED\): .+\n$/);
    expect(refused.stderr).not.toContain(wrong);

    const unset = await script({ TAAPIT_API_URL: socket.url, TAAPIT_API_KEY: '' });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('TAAPIT_API_KEY is not set');
  });
});
