import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, gql, listenOnSocket, makeKey, makeUser, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
let socket: Awaited<ReturnType<typeof listenOnSocket>>;
let key: string;

beforeAll(async () => {
  t = createTestApp(db());
  socket = await listenOnSocket(t.app);
  key = (await makeKey(await makeUser())).secret;
});
afterAll(async () => {
  await socket.close();
  await t.close();
});

describe('HTTP surface over a real socket', () => {
  it('GET /healthz answers 200 without touching the database', async () => {
    const response = await fetch(`${socket.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('GET /readyz pings the database', async () => {
    const response = await fetch(`${socket.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });

  it('GET /graphql from a browser serves GraphiQL with the Authorization header template', async () => {
    const response = await fetch(`${socket.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('Bearer taapit_');
    expect(html).toContain('taapit-api');
    // Served from here, not a CDN: it works offline.
    expect(html).not.toMatch(/unpkg\.com|cdn\.jsdelivr/);
  });

  it('echoes a caller-supplied X-Request-Id and logs it with the key id, never the Authorization header', async () => {
    const response = await fetch(`${socket.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-request-id': 'trace-abc.123' },
      body: JSON.stringify({ query: '{ viewer { key { name } } }' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('trace-abc.123');
    const line = t.logs.lines.map((l) => JSON.parse(l)).find((l) => l.requestId === 'trace-abc.123');
    expect(line).toMatchObject({ msg: 'request', status: 200, path: '/graphql' });
    expect(line.keyId).toMatch(/^[0-9a-f]{24}$/);
    expect(t.logs.text).not.toContain(key);
  });

  it('request-level authentication failure: HTTP 401, no data, UNAUTHENTICATED', async () => {
    const response = await fetch(`${socket.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ viewer { key { name } } }' }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('Bearer');
    const body = await response.json();
    expect(body.data).toBeUndefined();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });

  it('authenticated responses carry RateLimit-* and X-RateLimit-* headers', async () => {
    const result = await gql(t.app, '{ viewer { rateLimit { limit remaining resetSeconds } } }', {}, { key });
    expect(result.status).toBe(200);
    for (const prefix of ['RateLimit', 'X-RateLimit']) {
      expect(result.headers.get(`${prefix}-Limit`)).toBe('600');
      expect(Number(result.headers.get(`${prefix}-Remaining`))).toBeLessThan(600);
      expect(Number(result.headers.get(`${prefix}-Reset`))).toBeGreaterThan(0);
    }
    // The field reports the very decision the headers carry (the context's, not a default).
    expect(result.body.data.viewer.rateLimit).toEqual({
      limit: 600,
      remaining: Number(result.headers.get('RateLimit-Remaining')),
      resetSeconds: Number(result.headers.get('RateLimit-Reset')),
    });
  });

  it('invalid GraphQL is a 400 with a clear message, never a stack trace', async () => {
    const result = await gql(t.app, '{ viewer { nope } }', {}, { key });
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.message).toContain('Cannot query field "nope"');
    expect(JSON.stringify(result.body)).not.toMatch(/\bat \S+:\d+/);
  });
});

describe('query cost limits', () => {
  it('a page of 100 links with relations passes; pages nested in pages are refused before any resolver runs', async () => {
    const ok = await gql(t.app, '{ links(first: 100) { edges { node { id slug url project { name } domain { hostname } createdBy { email } workspace { name } } } } }', {}, { key });
    expect(ok.body.errors).toBeUndefined();
    const nested = await gql(
      t.app,
      '{ workspaces(first: 100) { edges { node { links(first: 100) { edges { node { id project { links(first: 100) { totalCount } } } } } } } } }',
      {},
      { key },
    );
    expect(nested.status).toBe(200);
    expect(nested.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(nested.body.errors?.[0]?.message).toMatch(/exceeds the limit of 5000/);
  });

  it('the standard introspection query is not limited', async () => {
    const { getIntrospectionQuery } = await import('graphql');
    const result = await gql(t.app, getIntrospectionQuery(), {}, { key });
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.__schema.types.length).toBeGreaterThan(50);
  });
});

describe('request size', () => {
  it('refuses a body over 1 MB with 413 before reading it', async () => {
    const response = await fetch(`${socket.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ viewer { key { name } } }', variables: { pad: 'x'.repeat(1_100_000) } }),
    });
    expect(response.status).toBe(413);
    expect((await response.json()).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('GET /graphql', () => {
  it('runs queries from the URL (the key still comes from the header) and refuses mutations', async () => {
    const query = encodeURIComponent('{ viewer { key { name } } }');
    const ok = await fetch(`${socket.url}/graphql?query=${query}`, { headers: { authorization: `Bearer ${key}`, accept: 'application/json' } });
    expect(ok.status).toBe(200);
    expect((await ok.json()).data.viewer.key.name).toBe('FULL key');
    const mutation = encodeURIComponent('mutation { createWorkspace(input: { name: "x" }) { __typename } }');
    const refused = await fetch(`${socket.url}/graphql?query=${mutation}`, { headers: { authorization: `Bearer ${key}`, accept: 'application/json' } });
    expect(refused.status).toBe(405);
  });
});
