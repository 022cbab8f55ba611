import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { BSON, Binary, Double, Int32, Long, ObjectId } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupError, checkBackup, restoreBackup, writeBackup } from '../src/db/backup.ts';
import { freePort } from '../src/db/embedded.ts';
import { testDbUri, useTestDatabase } from './helpers.ts';
import { httpOk, killSpawned, runCli, tempDir, waitFor, type Spawned } from './process.ts';

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const SHORT = 'go.backup.test';

const canonical = (docs: unknown[]) => docs.map((d) => BSON.EJSON.stringify(d as BSON.Document, { relaxed: false }));

async function cli(args: string[], env: Record<string, string>) {
  const run = runCli(args, env);
  return { code: await run.exited, output: run.output() };
}

describe('backup files (storage layer, on the test database)', () => {
  const { db } = useTestDatabase();
  const raw = () => db().connection.db!;
  const dumpOf = async (name: string) => canonical(await raw().collection(name).find({}, { sort: { _id: 1 }, promoteValues: false }).toArray());

  it('round-trips every BSON type it stores exactly, across pages, gzipped or not', async () => {
    const typed = raw().collection('backuptypes');
    await typed.insertMany([
      { _id: new ObjectId(), long: Long.fromString('9007199254740993'), int: new Int32(7), double: new Double(1), date: new Date('2026-01-02T03:04:05.678Z'), bin: new Binary(Buffer.from([0, 1, 255])), nested: { a: [1, 'two', null, { b: true }] }, nothing: null },
      { _id: new ObjectId(), text: 'ünïcode \n "quoted" $dollar' },
    ]);
    // More than one page (1000 documents a read), with string ids.
    await raw().collection<{ _id: string; n: number }>('backuppages').insertMany(Array.from({ length: 2500 }, (_, i) => ({ _id: `k${String(i).padStart(5, '0')}`, n: i })));
    const before = { typed: await dumpOf('backuptypes'), pages: await dumpOf('backuppages') };

    for (const file of [path.join(tempDir(), 'b.jsonl'), path.join(tempDir(), 'b.jsonl.gz')]) {
      const header = await writeBackup(raw(), file, { quiescent: true, pepper: null });
      expect(header.counts).toMatchObject({ backuptypes: 2, backuppages: 2500 });
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readdirSync(path.dirname(file))).toEqual([path.basename(file)]);
      const firstLine = (file.endsWith('.gz') ? zlib.gunzipSync(fs.readFileSync(file)) : fs.readFileSync(file)).toString().split('\n')[0]!;
      expect(JSON.parse(firstLine)).toMatchObject({ format: 'taapit-backup', version: 1, collections: header.collections, counts: header.counts });

      await restoreBackup(raw(), file, { force: true });
      expect(await dumpOf('backuptypes')).toEqual(before.typed);
      expect(await dumpOf('backuppages')).toEqual(before.pages);
    }
  });

  it('refuses a database that holds data unless forced, naming the collections', async () => {
    const file = path.join(tempDir(), 'b.jsonl');
    await writeBackup(raw(), file, { quiescent: true, pepper: null });
    const refused = await restoreBackup(raw(), file, { force: false }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BackupError);
    expect((refused as Error).message).toMatch(/^the database is not empty \(.*backuppages.*backuptypes.* hold data\).*--force/);
  });

  it('the CLI backs up and restores a MONGODB_URI database (as for MongoDB), saying the copy was live', async () => {
    const file = path.join(tempDir(), 'uri.jsonl.gz');
    const backup = await cli(['backup', '--out', file], { MONGODB_URI: testDbUri(raw().databaseName), DATA_DIR: tempDir() });
    expect(backup.code, backup.output).toBe(0);
    expect(backup.output).toContain('note: the database was in use');
    const copy = `t_restore_${Date.now()}`;
    const restored = await cli(['restore', '--in', file], { MONGODB_URI: testDbUri(copy), DATA_DIR: tempDir() });
    expect(restored.code, restored.output).toBe(0);
    const other = raw().client.db(copy);
    try {
      expect(canonical(await other.collection('backuptypes').find({}, { sort: { _id: 1 }, promoteValues: false }).toArray())).toEqual(await dumpOf('backuptypes'));
      expect(await other.collection('backuppages').countDocuments()).toBe(2500);
    } finally {
      await other.dropDatabase();
    }
  }, 60_000);

  it('refuses a damaged or cut-short file before changing anything, naming the line', async () => {
    const dir = tempDir();
    const good = path.join(dir, 'good.jsonl');
    await writeBackup(raw(), good, { quiescent: true, pepper: null });
    const lines = fs.readFileSync(good, 'utf8').split('\n');
    const write = (name: string, text: string | Buffer) => {
      fs.writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const cases: [file: string, message: RegExp][] = [
      [write('garbled.jsonl', [...lines.slice(0, 2), '{"c":"backuppages","d":{"_id":', ...lines.slice(3)].join('\n')), /line 3 is not valid Extended JSON/],
      [write('shape.jsonl', [...lines.slice(0, 4), '{"x":1}', ...lines.slice(5)].join('\n')), /line 5 is not a \{"c": collection/],
      [write('cut.jsonl', lines.slice(0, 100).join('\n')), /ends after line 100 with .* where the header announces .*cut short/],
      [write('cut.jsonl.gz', zlib.gzipSync(fs.readFileSync(good)).subarray(0, 2000)), /damaged or cut-short gzip file/],
      [write('other.jsonl', '{"hello":"world"}\n'), /line 1 is not a taapit-api backup header/],
      [write('future.jsonl', `${JSON.stringify({ format: 'taapit-backup', version: 2, collections: [], counts: {} })}\n`), /version 2 backup/],
      [write('empty.jsonl', ''), /is empty/],
      [path.join(dir, 'missing.jsonl'), /cannot read .*ENOENT/],
    ];
    const count = await raw().collection('backuppages').countDocuments();
    for (const [file, message] of cases) {
      await expect(checkBackup(file), file).rejects.toThrow(message);
      // Forced, so only the check stands between the file and deleting everything.
      await expect(restoreBackup(raw(), file, { force: true }), file).rejects.toThrow(BackupError);
      expect(await raw().collection('backuppages').countDocuments()).toBe(count);
    }
  });
});

afterEach(killSpawned);

interface Server {
  spawned: Spawned;
  port: number;
  key: string;
}

async function serve(dataDir: string): Promise<Server> {
  const port = await freePort();
  const spawned = runCli(['serve'], { DATA_DIR: dataDir, PORT: String(port), SHORT_DOMAIN: SHORT });
  await waitFor(() => httpOk(`http://127.0.0.1:${port}/healthz`), 30_000, '/healthz');
  return { spawned, port, key: /Bearer (taapit_\w+)/.exec(spawned.output())?.[1] ?? '' };
}

async function stop(server: Server): Promise<void> {
  server.spawned.child.kill('SIGTERM');
  expect(await server.spawned.exited).toBe(0);
}

function get(port: number, pathname: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, headers: { Host: SHORT, 'user-agent': BROWSER } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
      })
      .on('error', reject);
  });
}

async function gql(port: number, key: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

const STATS = `query($link: ID!, $ws: ID!) {
  linkStats(linkId: $link) { ... on LinkStats { totalClicks botClicks browsers { value clicks } series { day clicks } } }
  workspaceStats(workspaceId: $ws) { ... on WorkspaceStats { totalClicks } }
  links(workspaceId: $ws, first: 10) { totalCount edges { node { id slug url clicks } } }
}`;

describe('backup and restore through the real CLI', () => {
  it('a backup restored into a new DATA_DIR with the same pepper answers the same', async () => {
    const source = tempDir();
    const first = await serve(source);
    expect(first.key).toMatch(/^taapit_/);
    expect((await cli(['user', 'create', '--email', 'ada@example.com', '--name', 'Ada'], { DATA_DIR: source })).code).toBe(0);
    const limited = runCli(['key', 'create', '--email', 'ada@example.com', '--name', 'ro', '--permission', 'READ_ONLY'], { DATA_DIR: source });
    let limitedKey = '';
    limited.child.stdout!.on('data', (chunk: Buffer) => (limitedKey += chunk.toString()));
    expect(await limited.exited).toBe(0);
    limitedKey = limitedKey.trim();

    const ws = (await gql(first.port, first.key, '{ workspaces(first: 1) { edges { node { id } } } }')).data!.workspaces.edges[0].node.id as string;
    const created = await gql(first.port, first.key, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { id } } } }', {
      i: { workspaceId: ws, url: 'https://example.com/landing', slug: 'kept' },
    });
    const link = created.data!.createLink.link.id as string;
    for (let i = 0; i < 3; i += 1) expect((await get(first.port, '/kept')).status).toBe(302);
    const live = await cli(['backup', '--out', path.join(tempDir(), 'live.jsonl')], { DATA_DIR: source });
    expect(live.code, live.output).toBe(0);
    expect(live.output).toContain('note: the database was in use');
    const unwritable = await cli(['backup', '--out', path.join(source, 'no', 'such', 'dir.jsonl')], { DATA_DIR: source });
    expect(unwritable.code).toBe(1);
    expect(unwritable.output).toMatch(/taapit-api: cannot write .*dir\.jsonl \(ENOENT\)/);
    await stop(first); // the final flush writes the clicks; a stopped server makes the backup consistent

    const file = path.join(tempDir(), 'taapit.jsonl.gz');
    const backup = await cli(['backup', '--out', file], { DATA_DIR: source });
    expect(backup.code, backup.output).toBe(0);
    expect(backup.output).toMatch(/backed up \d+ document\(s\) of \d+ collection\(s\)/);
    expect(backup.output).not.toContain('note: the database was in use');
    expect(backup.output).not.toContain(first.key);

    const target = tempDir();
    const restored = await cli(['restore', '--in', file], { DATA_DIR: target });
    expect(restored.code, restored.output).toBe(0);
    expect(restored.output).toContain('warning: no pepper here');
    fs.copyFileSync(path.join(source, 'api-key-pepper'), path.join(target, 'api-key-pepper'));
    const otherPepper = await cli(['restore', '--in', file], { DATA_DIR: tempDir(), API_KEY_PEPPER: 'another-pepper-0123456789-abcdefghijklmnop' });
    expect(otherPepper.code).toBe(0);
    expect(otherPepper.output).toContain('warning: this pepper is not the one the backed-up keys were made with');

    const again = await cli(['restore', '--in', file], { DATA_DIR: target });
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/taapit-api: the database is not empty \(.*apikeys.*links.* hold data\)/);

    const second = await serve(target);
    try {
      expect(second.key).toBe(''); // no new demo key: the restored one is there
      const variables = { link, ws };
      const reference = await (async () => {
        // The source, started once more, is the reference the restored copy must match.
        const back = await serve(source);
        const answer = await gql(back.port, first.key, STATS, variables);
        await stop(back);
        return answer;
      })();
      expect(reference.data!.linkStats.totalClicks).toBe(3);
      expect(await gql(second.port, first.key, STATS, variables)).toEqual(reference);
      expect((await gql(second.port, limitedKey, '{ viewer { key { name permission } user { email } } }')).data).toEqual({
        viewer: { key: { name: 'ro', permission: 'READ_ONLY' }, user: { email: 'ada@example.com' } },
      });
      expect(await get(second.port, '/kept')).toEqual({ status: 302, location: 'https://example.com/landing' });

      const running = await cli(['restore', '--in', file, '--force'], { DATA_DIR: target });
      expect(running.code).toBe(1);
      expect(running.output).toContain('a server is running on DATA_DIR');
    } finally {
      await stop(second);
    }
  }, 180_000);

  it('a damaged file fails in one line naming the line, exit code 1', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(file, `${JSON.stringify({ format: 'taapit-backup', version: 1, collections: ['users'], counts: { users: 1 } })}\n{"c":"users","d":{oops}\n`);
    const result = await cli(['restore', '--in', file], { DATA_DIR: path.join(dir, 'data') });
    expect(result.code).toBe(1);
    expect(result.output.trim().split('\n').at(-1)).toMatch(/^taapit-api: .*bad\.jsonl line 2 is not valid Extended JSON/);
  }, 60_000);
});
