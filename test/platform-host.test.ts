import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
let key: string;
let workspaceId: string;

// SHORT_DOMAIN unset: the platform domain is localhost on the listening port, as after `npm start`.
beforeAll(async () => {
  t = createTestApp(db(), { SHORT_DOMAIN: '', PORT: '4000' });
  const user = await makeUser();
  workspaceId = gid('Workspace', (await makeWorkspace(user))._id);
  key = (await makeKey(user)).secret;
});
afterAll(() => t.close());

const get = (url: string) => t.app.fetch(new Request(url, { redirect: 'manual' }));

describe('the platform domain answers under every loopback spelling of its port', () => {
  it('a short link made on localhost:4000 redirects from 127.0.0.1:4000, [::1]:4000 and localhost:4000, not from another port', async () => {
    const created = await gql(
      t.app,
      'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { shortUrl } } } }',
      { i: { workspaceId, url: 'https://example.com/loopback', slug: 'loop' } },
      { key },
    );
    expect(created.body.data.createLink.link.shortUrl).toBe('http://localhost:4000/loop');
    for (const base of ['http://localhost:4000', 'http://127.0.0.1:4000', 'http://[::1]:4000', 'http://LOCALHOST:4000']) {
      const response = await get(`${base}/loop`);
      expect([base, response.status, response.headers.get('location')]).toEqual([base, 302, 'https://example.com/loopback']);
    }
    expect((await get('http://127.0.0.1:4001/loop')).status).toBe(404);
    expect((await get('http://example.com:4000/loop')).status).toBe(404);
  });

  it('GET / on the platform domain says where the API and GraphiQL are', async () => {
    for (const base of ['http://localhost:4000', 'http://127.0.0.1:4000']) {
      const response = await get(`${base}/`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain(`${base}/graphql`);
    }
    // Elsewhere an empty path is a link that does not exist, as before.
    expect((await get('http://example.com/')).status).toBe(404);
  });
});
