import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/rules/keys.ts';
import { MemoryRateLimiter, MongoRateLimiter } from '../src/auth/rate-limit.ts';
import { RateLimitWindow } from '../src/models/rate-limit-window.ts';
import { Workspace } from '../src/models/workspace.ts';
import type { App } from '../src/yoga.ts';
import { countQueries, createTestApp, listenOnSocket, makeKey, makeUser, useTestDatabase, type TestApp } from './helpers.ts';

const { db, commands } = useTestDatabase();
const VIEWER = '{ viewer { key { name } } }';
const INTROSPECTION = '{ __typename }';
/** A fixed clock inside one window, so no test straddles a minute boundary. */
const clock = () => 1_800_000_010_000;
const apps: TestApp[] = [];

function app(env: Record<string, string> = {}, overrides: Parameters<typeof createTestApp>[2] = {}): TestApp {
  const created = createTestApp(db(), env, overrides);
  apps.push(created);
  return created;
}
afterAll(async () => {
  for (const created of apps) await created.close();
});

/** A POST /graphql through app.fetch with a socket peer address and optional X-Forwarded-For. */
async function post(
  target: App,
  options: { query?: string; key?: string; remoteAddress?: string; forwardedFor?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  if (options.forwardedFor) headers['x-forwarded-for'] = options.forwardedFor;
  const response = await target.fetch(
    new Request('http://tpt.test/graphql', { method: 'POST', headers, body: JSON.stringify({ query: options.query ?? VIEWER }) }),
    { remoteAddress: options.remoteAddress ?? '127.0.0.1' },
  );
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** Writes a request by hand on a raw TCP connection and returns everything the server sends back. */
function rawHttp(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(text));
    let received = '';
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

/** The JSON body of a raw response, whether sent with Content-Length or chunked. */
const jsonOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1));

const STACK = /\bat \S+ \(|\bat (async )?\S+:\d+|TypeError|\.ts:\d+/;

describe('TRUST_PROXY: the client IP is the rightmost address not written by a trusted proxy', () => {
  let allowed: string;
  beforeAll(async () => {
    allowed = (await makeKey(await makeUser(), 'FULL', { allowedIps: ['203.0.113.7'] })).secret;
  });

  it('off (default): X-Forwarded-For is ignored, the socket peer is the client', async () => {
    const t = app();
    const spoofed = await post(t.app, { key: allowed, remoteAddress: '198.51.100.9', forwardedFor: '203.0.113.7' });
    expect(spoofed.status).toBe(403);
    expect(spoofed.body.errors[0].message).toContain('may not be used from 198.51.100.9');
    expect((await post(t.app, { key: allowed, remoteAddress: '203.0.113.7', forwardedFor: '198.51.100.9' })).status).toBe(200);
  });

  it('true = one load balancer: a client-written X-Forwarded-For entry cannot bypass allowedIps', async () => {
    const t = app({ TRUST_PROXY: 'true' });
    // The attacker sends "X-Forwarded-For: 203.0.113.7"; the load balancer appends the real peer.
    const spoofed = await post(t.app, { key: allowed, remoteAddress: '10.0.0.1', forwardedFor: '203.0.113.7, 198.51.100.9' });
    expect(spoofed.status).toBe(403);
    expect(spoofed.body.errors[0].message).toContain('may not be used from 198.51.100.9');
    expect((await post(t.app, { key: allowed, remoteAddress: '10.0.0.1', forwardedFor: '203.0.113.7' })).status).toBe(200);
  });

  it('a hop count: 2 trusts the load balancer and one proxy behind it, no more', async () => {
    const t = app({ TRUST_PROXY: '2' });
    const spoofed = await post(t.app, { key: allowed, remoteAddress: '10.0.0.2', forwardedFor: '203.0.113.7, 198.51.100.9, 10.0.0.1' });
    expect(spoofed.status).toBe(403);
    expect(spoofed.body.errors[0].message).toContain('may not be used from 198.51.100.9');
    const real = await post(t.app, { key: allowed, remoteAddress: '10.0.0.2', forwardedFor: '198.51.100.9, 203.0.113.7, 10.0.0.1' });
    expect(real.status).toBe(200);
  });

  it('a list of proxy addresses, ranges and names: only those may speak for the client', async () => {
    const t = app({ TRUST_PROXY: '10.0.0.0/8, loopback' });
    const spoofed = await post(t.app, { key: allowed, remoteAddress: '127.0.0.1', forwardedFor: '203.0.113.7, 198.51.100.9, 10.1.2.3' });
    expect(spoofed.status).toBe(403);
    expect(spoofed.body.errors[0].message).toContain('may not be used from 198.51.100.9');
    expect((await post(t.app, { key: allowed, remoteAddress: '127.0.0.1', forwardedFor: '198.51.100.9, 203.0.113.7, 10.1.2.3' })).status).toBe(200);
    // A caller that is not a trusted proxy speaks only for itself.
    const direct = await post(t.app, { key: allowed, remoteAddress: '198.51.100.9', forwardedFor: '203.0.113.7' });
    expect(direct.status).toBe(403);
    expect(direct.body.errors[0].message).toContain('may not be used from 198.51.100.9');
  });

  it('over a real socket (peer 127.0.0.1 acting as the load balancer)', async () => {
    const t = app({ TRUST_PROXY: '127.0.0.1' });
    const socket = await listenOnSocket(t.app);
    const call = (forwardedFor: string) =>
      fetch(`${socket.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${allowed}`, 'x-forwarded-for': forwardedFor },
        body: JSON.stringify({ query: VIEWER }),
      });
    const spoofed = await call('203.0.113.7, 198.51.100.9');
    expect(spoofed.status).toBe(403);
    expect((await spoofed.json()).errors[0].message).toContain('may not be used from 198.51.100.9');
    expect((await call('198.51.100.9, 203.0.113.7')).status).toBe(200);
    await socket.close();
  });
});

describe('CORS', () => {
  const preflight = (target: App, origin: string) =>
    target.fetch(
      new Request('http://tpt.test/graphql', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      }),
      { remoteAddress: '127.0.0.1' },
    );
  let key: string;
  beforeAll(async () => {
    key = (await makeKey(await makeUser())).secret;
  });

  it('default: any origin with "*", never with credentials; headers the client needs are allowed and exposed', async () => {
    const t = app();
    const before = await preflight(t.app, 'https://evil.example');
    expect(before.status).toBe(204);
    expect(before.headers.get('access-control-allow-origin')).toBe('*');
    expect(before.headers.get('access-control-allow-credentials')).toBeNull();
    expect(before.headers.get('access-control-allow-methods')).toMatch(/GET.*POST|POST.*GET/);
    for (const name of ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id']) {
      expect(before.headers.get('access-control-allow-headers')).toContain(name);
    }
    const actual = await post(t.app, { key, headers: { origin: 'https://evil.example' } });
    expect(actual.status).toBe(200);
    expect(actual.headers.get('access-control-allow-origin')).toBe('*');
    expect(actual.headers.get('access-control-allow-credentials')).toBeNull();
    const exposed = actual.headers.get('access-control-expose-headers') ?? '';
    for (const name of ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After', 'X-Request-Id']) {
      expect(exposed).toContain(name);
    }
  });

  it('CORS_ORIGINS: a listed origin is echoed with Vary: Origin, another gets no CORS headers', async () => {
    const t = app({ CORS_ORIGINS: 'https://app.example, https://admin.example' });
    const allowedPreflight = await preflight(t.app, 'https://admin.example');
    expect(allowedPreflight.headers.get('access-control-allow-origin')).toBe('https://admin.example');
    expect(allowedPreflight.headers.get('vary')).toContain('Origin');
    expect(allowedPreflight.headers.get('access-control-allow-credentials')).toBeNull();
    const refusedPreflight = await preflight(t.app, 'https://evil.example');
    expect(refusedPreflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(refusedPreflight.headers.get('vary')).toContain('Origin');

    const allowedActual = await post(t.app, { key, headers: { origin: 'https://app.example' } });
    expect(allowedActual.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowedActual.headers.get('access-control-expose-headers')).toContain('RateLimit-Remaining');
    const refusedActual = await post(t.app, { key, headers: { origin: 'https://evil.example' } });
    expect(refusedActual.headers.get('access-control-allow-origin')).toBeNull();
    expect(refusedActual.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

describe('anonymous requests are rate limited per client IP', () => {
  it.each([
    ['memory', () => new MemoryRateLimiter(clock)],
    ['mongo', () => new MongoRateLimiter(clock)],
  ])('%s store: 429 RATE_LIMITED with Retry-After and RateLimit-* after the limit', async (_store, limiter) => {
    const t = app({ ANONYMOUS_RATE_LIMIT_PER_MINUTE: '3' }, { rateLimiter: limiter() });
    const ip = `192.0.2.${_store === 'memory' ? 10 : 11}`;
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(t.app, { query: INTROSPECTION, remoteAddress: ip })).status);
    expect(statuses).toEqual([200, 200, 200]);
    const limited = await post(t.app, { query: INTROSPECTION, remoteAddress: ip });
    expect(limited.status).toBe(429);
    expect(limited.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(limited.body.errors[0].message).toMatch(/anonymous/i);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('ratelimit-limit')).toBe('3');
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    // Other addresses are not affected.
    expect((await post(t.app, { query: INTROSPECTION, remoteAddress: '192.0.2.99' })).status).toBe(200);
    // The shared store is keyed by an HMAC of the address, never the address itself.
    const ids = (await RateLimitWindow.find().lean()).map((w) => w._id).join(' ');
    expect(ids).not.toMatch(/192\.0\.2\./);
    if (_store === 'mongo') expect(ids).toMatch(/^ip:|\sip:/);
  });
});

describe('failed authentication is throttled per client IP', () => {
  it('a flood of 300 unknown keys: 401 for the first 20, then 429 without a database lookup; valid keys elsewhere unaffected', async () => {
    const t = app({ AUTH_FAILURE_LIMIT_PER_MINUTE: '20' }, { rateLimiter: new MemoryRateLimiter(clock) });
    const user = await makeUser();
    const fromFlooder = (await makeKey(user)).secret;
    const fromElsewhere = (await makeKey(user)).secret;
    const unusedYet = (await makeKey(user)).secret;
    // Known-good before the flood: this key was already verified on this instance.
    expect((await post(t.app, { key: fromFlooder, remoteAddress: '198.51.100.66' })).status).toBe(200);

    const statuses: number[] = [];
    const started = performance.now();
    const { count } = await countQueries(commands, async () => {
      for (let batch = 0; batch < 10; batch++) {
        const results = await Promise.all(
          Array.from({ length: 30 }, () => post(t.app, { key: generateApiKey(), remoteAddress: '198.51.100.66' })),
        );
        statuses.push(...results.map((r) => r.status));
      }
    });
    const ms = performance.now() - started;
    expect(statuses.filter((s) => s === 401)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(280);
    expect(count).toBeLessThanOrEqual(20);
    console.log(`[edge] 300 unknown keys from one IP: ${ms.toFixed(0)} ms, ${count} key lookups`);

    const limited = await post(t.app, { key: generateApiKey(), remoteAddress: '198.51.100.66' });
    expect(limited.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(limited.body.errors[0].message).toMatch(/failed authentication/i);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);

    // Another IP with a valid key: untouched.
    expect((await post(t.app, { key: fromElsewhere, remoteAddress: '198.51.100.77' })).status).toBe(200);
    // The flooding IP: a key already verified here still works; a key not yet known is not looked up.
    expect((await post(t.app, { key: fromFlooder, remoteAddress: '198.51.100.66' })).status).toBe(200);
    expect((await post(t.app, { key: unusedYet, remoteAddress: '198.51.100.66' })).status).toBe(429);
  });

  it('a burst of more requests than the limit with one valid key this instance has not seen yet: every one answered 200', async () => {
    const t = app({ AUTH_FAILURE_LIMIT_PER_MINUTE: '5' }, { rateLimiter: new MemoryRateLimiter(clock) });
    const secret = (await makeKey(await makeUser())).secret;
    const statuses = (await Promise.all(Array.from({ length: 40 }, () => post(t.app, { key: secret, remoteAddress: '198.51.100.67' })))).map((r) => r.status);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // Unknown keys in the same kind of burst are still held to the limit.
    const unknown = (await Promise.all(Array.from({ length: 40 }, () => post(t.app, { key: generateApiKey(), remoteAddress: '198.51.100.68' })))).map((r) => r.status);
    expect(unknown.filter((s) => s === 401)).toHaveLength(5);
    expect(unknown.filter((s) => s === 429)).toHaveLength(35);
  });

  it('with RATE_LIMIT_STORE=mongo the failures are counted in the shared store', async () => {
    const a = app({ AUTH_FAILURE_LIMIT_PER_MINUTE: '4' }, { rateLimiter: new MongoRateLimiter(clock) });
    const b = app({ AUTH_FAILURE_LIMIT_PER_MINUTE: '4' }, { rateLimiter: new MongoRateLimiter(clock) });
    const statuses = [];
    for (const target of [a, b, a, b, a, b, a, b]) statuses.push((await post(target.app, { key: generateApiKey(), remoteAddress: '198.51.100.88' })).status);
    // Each instance learns the shared count with its own next failure: one extra attempt per instance at most.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
  });

  it('refusals for allowedIps (403) are not failures: the key is genuine', async () => {
    const t = app({ AUTH_FAILURE_LIMIT_PER_MINUTE: '3' }, { rateLimiter: new MemoryRateLimiter(clock) });
    const user = await makeUser();
    const restricted = (await makeKey(user, 'FULL', { allowedIps: ['203.0.113.7'] })).secret;
    for (let i = 0; i < 5; i++) expect((await post(t.app, { key: restricted, remoteAddress: '198.51.100.99' })).status).toBe(403);
    expect((await post(t.app, { key: (await makeKey(user)).secret, remoteAddress: '198.51.100.99' })).status).toBe(200);
  });

  it("GraphiQL's placeholder key is not a failure: reloading the page never locks its user out", async () => {
    const t = app({ AUTH_FAILURE_LIMIT_PER_MINUTE: '2' }, { rateLimiter: new MemoryRateLimiter(clock) });
    for (let i = 0; i < 5; i++) expect((await post(t.app, { key: 'taapit_...', remoteAddress: '198.51.100.112' })).status).toBe(401);
    const user = await makeUser();
    expect((await post(t.app, { key: (await makeKey(user)).secret, remoteAddress: '198.51.100.112' })).status).toBe(200);
  });

  it('malformed keys and wrong schemes count as failures too', async () => {
    const t = app({ AUTH_FAILURE_LIMIT_PER_MINUTE: '2' }, { rateLimiter: new MemoryRateLimiter(clock) });
    expect((await post(t.app, { headers: { authorization: 'Basic abc' }, remoteAddress: '198.51.100.111' })).status).toBe(401);
    expect((await post(t.app, { key: 'taapit_short', remoteAddress: '198.51.100.111' })).status).toBe(401);
    expect((await post(t.app, { key: generateApiKey(), remoteAddress: '198.51.100.111' })).status).toBe(429);
  });
});

describe('request bodies', () => {
  let t: TestApp;
  let socket: Awaited<ReturnType<typeof listenOnSocket>>;
  let key: string;
  beforeAll(async () => {
    t = app();
    socket = await listenOnSocket(t.app);
    key = (await makeKey(await makeUser())).secret;
  });
  afterAll(() => socket.close());

  function chunkedPost(bytes: number, chunk = 64 * 1024): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const request = http.request(`${socket.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'transfer-encoding': 'chunked' },
      });
      request.on('response', (response) => {
        let body = '';
        response.on('data', (data) => (body += data));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      });
      // The server may close the connection while we are still writing: that is the point.
      request.on('error', (error) => (error as NodeJS.ErrnoException).code === 'EPIPE' || (error as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(error));
      const head = '{"query":"{ viewer { key { name } } }","variables":{"pad":"';
      request.write(head);
      let sent = head.length;
      const filler = 'x'.repeat(chunk);
      const pump = () => {
        while (sent < bytes) {
          sent += chunk;
          if (!request.write(filler)) return void request.once('drain', pump);
        }
        request.end('"}}');
      };
      pump();
    });
  }

  it('a chunked body is counted as it is read: 10 MB without Content-Length gets 413, and the server carries on', async () => {
    const refused = await chunkedPost(10_000_000);
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect(refused.body).not.toMatch(STACK);
    const small = await chunkedPost(10_000);
    expect(small.status).toBe(200);
    expect(JSON.parse(small.body).data.viewer.key.name).toBe('FULL key');
    expect((await fetch(`${socket.url}/healthz`)).status).toBe(200);
  });

  it('POST accepts only JSON: forms, multipart and text/plain get 415 and nothing runs', async () => {
    const mutation = 'mutation { createWorkspace(input: { name: "csrf" }) { __typename } }';
    const before = await Workspace.countDocuments({ name: 'csrf' });
    const form = new URLSearchParams({ query: mutation });
    const multipart = new FormData();
    multipart.set('operations', JSON.stringify({ query: mutation }));
    const bodies: [string | undefined, BodyInit][] = [
      ['application/x-www-form-urlencoded', form.toString()],
      [undefined, multipart],
      ['text/plain', JSON.stringify({ query: mutation })],
      ['application/graphql', mutation],
    ];
    for (const [contentType, body] of bodies) {
      const headers: Record<string, string> = { authorization: `Bearer ${key}` };
      if (contentType) headers['content-type'] = contentType;
      const response = await fetch(`${socket.url}/graphql`, { method: 'POST', headers, body });
      expect(response.status, contentType ?? 'multipart').toBe(415);
      const json = await response.json();
      expect(json.errors[0].extensions.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(json.errors[0].message).toContain('application/json');
    }
    expect(await Workspace.countDocuments({ name: 'csrf' })).toBe(before);
    for (const contentType of ['application/json; charset=utf-8', 'application/graphql-response+json', 'application/graphql+json', 'Application/JSON']) {
      const response = await fetch(`${socket.url}/graphql`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
        body: JSON.stringify({ query: VIEWER }),
      });
      expect(response.status, contentType).toBe(200);
    }
  });
});

describe('malformed requests on the wire never produce a stack trace', () => {
  let socket: Awaited<ReturnType<typeof listenOnSocket>>;
  beforeAll(async () => {
    socket = await listenOnSocket(app().app);
  });
  afterAll(() => socket.close());

  it.each([
    ['an absolute-form target', 'GET http://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'],
    ['an absolute-form target to /graphql', 'GET http://evil.example/graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'],
    ['a Host with a space', 'GET /healthz HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n'],
    ['an empty Host', 'GET /healthz HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n'],
    ['a Host with a path', 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1/graphql\r\nConnection: close\r\n\r\n'],
    ['a Host with credentials', 'GET /healthz HTTP/1.1\r\nHost: user@127.0.0.1\r\nConnection: close\r\n\r\n'],
  ])('%s: 400 with a JSON error', async (_name, text) => {
    const raw = await rawHttp(socket.url, text);
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).not.toMatch(STACK);
    const body = jsonOf(raw);
    expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(body.errors[0].message).toMatch(/Host|target/);
  });

  it('what node itself refuses (a broken request line, a bad header) is a clean 400 too', async () => {
    for (const text of ['GARBAGE\r\n\r\n', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n']) {
      const raw = await rawHttp(socket.url, text);
      expect(raw).toMatch(/^HTTP\/1\.1 400 /);
      expect(raw).not.toMatch(STACK);
      expect(jsonOf(raw).errors[0].extensions.code).toBe('BAD_REQUEST');
    }
  });

  it('headers over the size limit of node get a clean 431', async () => {
    const raw = await rawHttp(socket.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
    expect(raw).not.toMatch(STACK);
    expect(jsonOf(raw).errors[0].extensions.code).toBe('HEADERS_TOO_LARGE');
  });

  it('a normal request on the same server still works', async () => {
    const raw = await rawHttp(socket.url, `GET /healthz HTTP/1.1\r\nHost: ${new URL(socket.url).host}\r\nConnection: close\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
  });
});
