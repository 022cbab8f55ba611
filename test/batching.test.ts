import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickFacts } from '../src/redirect/clicks.ts';
import { ApiKey } from '../src/models/api-key.ts';
import { ClickDay } from '../src/models/click-day.ts';
import { Link } from '../src/models/link.ts';
import { createTestApp, makeKey, makeUser, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
beforeAll(() => {
  t = createTestApp(db());
});
afterAll(() => t.close());

// FerretDB 1.24.2 hangs on an update command of 100+ statements: flushes must stay under that.
describe('large flushes', () => {
  it('writes the usage of 150 keys in one flush', async () => {
    const user = await makeUser();
    const keys = await Promise.all(Array.from({ length: 150 }, () => makeKey(user, 'READ_ONLY')));
    for (const key of keys) t.services.usage.record(key.id, '127.0.0.1');
    await t.services.usage.flush();
    expect(await ApiKey.countDocuments({ userId: user._id, usageCount: 1 })).toBe(150);
  });

  it('writes the clicks of 120 links in one flush', async () => {
    const workspaceId = new Types.ObjectId();
    const links = await Link.insertMany(
      Array.from({ length: 120 }, (_, i) => ({ workspaceId, domain: 'tpt.test', slug: `bulk${i}`, url: 'https://example.com/', createdByUserId: workspaceId })),
    );
    const facts = clickFacts(new Headers({ 'user-agent': 'Mozilla/5.0 Firefox/128.0' }));
    for (const link of links) t.services.clicks.record(link, facts);
    await t.services.clicks.flush();
    expect(await Link.countDocuments({ workspaceId, clicks: 1 })).toBe(120);
    // A day document per link and one for the workspace.
    expect(await ClickDay.countDocuments({ workspaceId })).toBe(121);
  });
});
