import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../src/models/link.ts';
import { generateApiKey } from '../src/rules/keys.ts';
import { countQueries, createTestApp, gid, gql, listenOnSocket, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db, commands } = useTestDatabase();
let t: TestApp;
let socket: Awaited<ReturnType<typeof listenOnSocket>>;
let key: string;
let workspaceId: string;

beforeAll(async () => {
  t = createTestApp(db());
  socket = await listenOnSocket(t.app);
  const user = await makeUser();
  workspaceId = gid('Workspace', (await makeWorkspace(user))._id);
  key = (await makeKey(user)).secret;
});
afterAll(async () => {
  await socket.close();
  await t.close();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request over the socket; `body: 'never'` sends the headers (with a Content-Length) and never the body. */
function send(method: string, path: string, headers: Record<string, string>, body?: string | 'never'): Promise<Answer | 'no answer'> {
  const { port } = new URL(socket.url);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, path, method, headers: { host: 'tpt.test', ...headers }, agent: false });
    // A server that waits for the body never answers: that is the failure this file looks for.
    const timer = setTimeout(() => {
      request.destroy();
      resolve('no answer');
    }, 3000);
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        clearTimeout(timer);
        request.destroy();
        resolve({ status: response.statusCode!, headers: response.headers, body: text });
      });
    });
    request.on('error', (error) => ((error as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(error)));
    if (body === 'never') request.flushHeaders();
    else request.end(body);
  });
}

const QUERY = JSON.stringify({ query: '{ viewer { key { name } } }' });

function badChecksum(secret: string): string {
  return `${secret.slice(0, -1)}${secret.endsWith('x') ? 'y' : 'x'}`;
}

describe('a bad key is refused before the request body is read', () => {
  const cases = [
    ['a wrong checksum', () => badChecksum(generateApiKey()), /Malformed API key/],
    ['a wrong prefix', () => 'sk_live_0123456789abcdef0123456789abcdef', /Malformed API key/],
    ['an unknown key with a valid checksum', () => generateApiKey(), /Invalid API key/],
  ] as const;
  for (const [name, make, message] of cases) {
    it(`${name}: 401 while the body is still on its way, with the usual answer`, async () => {
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${make()}`, 'x-request-id': 'early-401', origin: 'https://app.example' };
      const early = await send('POST', '/graphql', { ...headers, 'content-length': String(QUERY.length) }, 'never');
      const full = await send('POST', '/graphql', headers, QUERY);
      for (const answer of [full, early]) {
        expect(answer).not.toBe('no answer');
        if (answer === 'no answer') return;
        expect(answer.status).toBe(401);
        expect(answer.headers['www-authenticate']).toBe('Bearer realm="taapit-api"');
        expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(answer.headers['x-request-id']).toBe('early-401');
        expect(answer.headers['access-control-allow-origin']).toBe('*');
        const body = JSON.parse(answer.body);
        expect(Object.keys(body)).toEqual(['errors']);
        expect(body.errors).toHaveLength(1);
        expect(body.errors[0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
        expect(body.errors[0].message).toMatch(message);
      }
    });
  }

  it('the answer follows Accept like every GraphQL answer', async () => {
    for (const accept of ['application/graphql-response+json', 'application/json', '*/*']) {
      const early = await send('POST', '/graphql', { 'content-type': 'application/json', accept, authorization: `Bearer ${generateApiKey()}` }, QUERY);
      const valid = await send('POST', '/graphql', { 'content-type': 'application/json', accept, authorization: `Bearer ${key}` }, JSON.stringify({ query: '{ nope }' }));
      if (early === 'no answer' || valid === 'no answer') throw new Error('no answer');
      expect(early.headers['content-type']).toBe(valid.headers['content-type']);
    }
  });

  it('a valid key still works, and the body is still required', async () => {
    const ok = await send('POST', '/graphql', { 'content-type': 'application/json', authorization: `Bearer ${key}` }, QUERY);
    expect(ok !== 'no answer' && ok.status).toBe(200);
  });
});

describe('a cached redirect is answered on the fast path, exactly like the full path', () => {
  async function link(url: string) {
    const result = await gql(t.app, 'mutation($i: CreateLinkInput!) { createLink(input: $i) { ... on LinkPayload { link { slug } } } }', { i: { workspaceId, url } }, { key });
    return result.body.data.createLink.link.slug as string;
  }
  const answer = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const result = await send(method, path, headers);
    if (result === 'no answer') throw new Error('no answer');
    return result;
  };
  /** What a client sees, without the headers that differ per request or by framing. */
  const visible = ({ status, headers, body }: Answer) => {
    const { date: _d, 'transfer-encoding': _te, 'content-length': _cl, 'x-request-id': _id, ...rest } = headers;
    return { status, headers: rest, body };
  };

  it('same status and headers as the first (uncached) answer; X-Request-Id echoed when valid, generated otherwise', async () => {
    const slug = await link('https://fast.example/a?b=1');
    const first = await answer('GET', `/${slug}`, { 'x-request-id': 'req-1' });
    const cached = await answer('GET', `/${slug}`, { 'x-request-id': 'req-2' });
    expect(visible(cached)).toEqual(visible(first));
    expect(cached.status).toBe(302);
    expect(cached.headers.location).toBe('https://fast.example/a?b=1');
    expect(cached.headers['cache-control']).toBe('no-store');
    expect(first.headers['x-request-id']).toBe('req-1');
    expect(cached.headers['x-request-id']).toBe('req-2');
    const generated = await answer('GET', `/${slug}`, { 'x-request-id': 'not valid!' });
    expect(generated.headers['x-request-id']).toMatch(/^[\w-]{16,}$/);
    const head = await answer('HEAD', `/${slug}`);
    expect(visible(head)).toEqual(visible(first));
  });

  it('costs no database command, counts GET clicks (not HEAD) and logs the request', async () => {
    const slug = await link('https://fast.example/count');
    await answer('GET', `/${slug}`);
    const { count } = await countQueries(commands, async () => {
      for (let i = 0; i < 4; i++) await answer('GET', `/${slug}`, { 'user-agent': 'Mozilla/5.0 Firefox/128.0', 'x-request-id': `log-${i}` });
      await answer('HEAD', `/${slug}`);
    });
    expect(count).toBe(0);
    await t.services.clicks.flush();
    expect((await Link.findOne({ slug }).lean())!.clicks).toBe(5);
    const line = t.logs.lines.map((l) => JSON.parse(l)).find((l) => l.requestId === 'log-3');
    expect(line).toMatchObject({ msg: 'request', method: 'GET', path: `/${slug}`, status: 302 });
    expect(line.ms).toBeTypeOf('number');
  });

  it('a malformed Host or an absolute target is refused even for a cached link', async () => {
    const slug = await link('https://fast.example/host');
    await answer('GET', `/${slug}`);
    expect((await answer('GET', `/${slug}`, { host: 'bad host' })).status).toBe(400);
    expect((await answer('GET', `http://tpt.test/${slug}`)).status).toBe(400);
  });

  it('other methods and the server paths are not redirects', async () => {
    const slug = await link('https://fast.example/methods');
    await answer('GET', `/${slug}`);
    expect((await answer('POST', `/${slug}`)).status).toBe(405);
    expect((await answer('GET', '/healthz')).status).toBe(200);
  });
});
