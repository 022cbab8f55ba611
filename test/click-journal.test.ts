import fs from 'node:fs';
import path from 'node:path';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickDay, linkDayId, workspaceDayId } from '../src/models/click-day.ts';
import { Link } from '../src/models/link.ts';
import { openClickJournal } from '../src/services.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';
import { tempDir } from './process.ts';

// The click journal in one process: what is in it when a redirect is answered, and what storing
// a segment twice does. test/click-journal-process.test.ts kills real servers.

const { db } = useTestDatabase();
let key: string;
let workspaceId: string;
let workspace: Types.ObjectId;
const opened: TestApp[] = [];

beforeAll(async () => {
  const user = await makeUser();
  workspace = (await makeWorkspace(user))._id;
  workspaceId = gid('Workspace', workspace);
  key = (await makeKey(user)).secret;
});
afterAll(async () => {
  for (const t of opened) await t.close();
});

async function journaledApp(dataDir: string, env: Record<string, string> = {}): Promise<TestApp> {
  const t = createTestApp(db(), { DATA_DIR: dataDir, ...env });
  opened.push(t);
  await openClickJournal(t.services);
  return t;
}

let slugs = 0;
async function createLink(t: TestApp): Promise<{ slug: string; _id: Types.ObjectId }> {
  const slug = `journal-${(slugs += 1)}-${Date.now()}`;
  const created = await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { id } } } }', {
    i: { workspaceId, url: 'https://journal.example/', slug },
  }, { key });
  const id: string = created.body.data.createLink.link.id;
  return { slug, _id: new Types.ObjectId(Buffer.from(id, 'base64').toString('utf8').split(':')[1]) };
}

async function redirect(t: TestApp, slug: string): Promise<number> {
  const response = await t.app.fetch(new Request(`http://tpt.test/${slug}`, { headers: { 'user-agent': 'Mozilla/5.0 Firefox/128.0' } }));
  return response.status;
}

const segments = (dir: string) => fs.readdirSync(path.join(dir, 'journal')).filter((name) => name.startsWith('segment-'));
const journalLines = (dir: string) =>
  segments(dir).flatMap((name) => fs.readFileSync(path.join(dir, 'journal', name), 'utf8').split('\n').filter(Boolean));

describe('the click journal', () => {
  it('holds every click of an answered redirect; a flush stores them and empties it', async () => {
    const dir = tempDir();
    const t = await journaledApp(dir);
    const link = await createLink(t);
    for (let i = 0; i < 5; i += 1) expect(await redirect(t, link.slug)).toBe(302);
    const lines = journalLines(dir);
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[0]!)).toEqual([String(link._id), String(workspace), expect.any(String), 0, '(direct)', 'desktop', 'Firefox']);
    await t.services.clicks.flush();
    expect((await Link.findById(link._id).lean())!.clicks).toBe(5);
    expect(journalLines(dir)).toHaveLength(0);
    // One (empty) segment stays: its number keeps the sequence going across restarts.
    expect(segments(dir)).toHaveLength(1);
  });

  it('a segment stored twice counts once (a crash after the database write, before the segment was removed)', async () => {
    const dir = tempDir();
    const t = await journaledApp(dir);
    const [a, b] = [await createLink(t), await createLink(t)];
    for (let i = 0; i < 3; i += 1) expect(await redirect(t, a.slug)).toBe(302);
    expect(await redirect(t, b.slug)).toBe(302);
    // What the disk held at the moment of the "crash".
    const [copy, copy2] = [tempDir(), tempDir()];
    for (const to of [copy, copy2]) {
      fs.cpSync(path.join(dir, 'journal'), path.join(to, 'journal'), { recursive: true });
      fs.rmSync(path.join(to, 'journal', 'lock'));
    }
    await t.services.clicks.flush();

    const day = new Date().toISOString().slice(0, 10);
    const stored = async () => ({
      a: (await Link.findById(a._id).lean())!.clicks,
      b: (await Link.findById(b._id).lean())!.clicks,
      aDay: (await ClickDay.findById(linkDayId(a._id, day)).lean())?.clicks,
      workspaceDay: (await ClickDay.findById(workspaceDayId(workspace, day)).lean())?.clicks,
    });
    const before = await stored();
    expect(before.a).toBe(3);
    expect(before.b).toBe(1);
    expect(before.aDay).toBe(3);

    // The restarted server replays the segment: every document already has it.
    const again = await journaledApp(copy);
    expect(again.logs.text).toContain('replaying the click journal');
    expect(await stored()).toEqual(before);
    expect(journalLines(copy)).toHaveLength(0);
    // And a third time: still once.
    await journaledApp(copy2);
    expect(await stored()).toEqual(before);
  });

  it('a segment left by a crash before any write is stored on start', async () => {
    const dir = tempDir();
    const t = await journaledApp(dir);
    const link = await createLink(t);
    for (let i = 0; i < 4; i += 1) expect(await redirect(t, link.slug)).toBe(302);
    const copy = tempDir();
    fs.cpSync(path.join(dir, 'journal'), path.join(copy, 'journal'), { recursive: true });
    fs.rmSync(path.join(copy, 'journal', 'lock'));
    // Its counts never reach the database before the "crash": the restarted server's replay stores them.
    await journaledApp(copy);
    expect((await Link.findById(link._id).lean())!.clicks).toBe(4);
  });

  it('past CLICK_BUFFER_MAX_EVENTS new clicks are dropped, and the drop is logged', async () => {
    const dir = tempDir();
    const t = await journaledApp(dir, { CLICK_BUFFER_MAX_EVENTS: '3' });
    const link = await createLink(t);
    for (let i = 0; i < 5; i += 1) expect(await redirect(t, link.slug)).toBe(302);
    expect(journalLines(dir)).toHaveLength(3);
    await t.services.clicks.flush();
    expect((await Link.findById(link._id).lean())!.clicks).toBe(3);
    expect(t.logs.text).toMatch(/"dropped":2.*click buffer full/);
  });

  it('a second server on the same DATA_DIR runs without a journal, and says so', async () => {
    const dir = tempDir();
    // Another live process (vitest's parent) holds it.
    fs.mkdirSync(path.join(dir, 'journal'));
    fs.writeFileSync(path.join(dir, 'journal', 'lock'), `${process.ppid}\n`);
    const second = await journaledApp(dir);
    expect(second.logs.text).toContain('click journal busy');
  });
});
