import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import proxyAddr from 'proxy-addr';
import { createServerAdapter } from '@whatwg-node/server';
import type { Config, CorsOrigins } from '../config.ts';
import { requestStore, type RequestStore } from '../logger.ts';
import type { Services } from '../services.ts';
import type { HeaderGetter } from '../redirect/clicks.ts';
import type { RequestAuth } from './auth-plugin.ts';
import { MAX_REPORT_BYTES, serveSecretScanning } from './secret-scanning.ts';
import { METRICS_PATH, serveMetrics } from './metrics.ts';

/** What the HTTP layer hands to each request: set by the node server or by tests calling app.fetch. */
export interface ServerContext {
  req?: IncomingMessage;
  /** The socket peer (tests in process); the node server's is req.socket.remoteAddress. TRUST_PROXY applies. */
  remoteAddress?: string;
  /** The client address as is, TRUST_PROXY not applied (tests in process). */
  clientIp?: string;
}

/** What the app tells the GraphQL handler about a request it passes on. */
export interface GraphQLServerContext {
  requestId: string;
  /** The client address, TRUST_PROXY applied; null when unknown. */
  clientIp: string | null;
  /** The key's authentication when `handlers.authenticate` already did it (before the body was read). */
  auth?: RequestAuth;
}

/** The handlers behind the routes the app does not answer itself. */
export interface AppHandlers {
  /** /graphql, once the body is checked and buffered. */
  graphql(request: Request, context: GraphQLServerContext): Response | Promise<Response>;
  /** A POST to /graphql before its body is read: an answer (a refused key), or null to go on. */
  authenticate?(request: Request, context: GraphQLServerContext): Promise<Response | null>;
  /** Every other path: short links. */
  redirect(request: Request, url: URL): Promise<Response>;
  /** The Location of a GET or HEAD the link cache answers alone (click recorded), else undefined. */
  cachedRedirect?(method: string, url: URL, header: HeaderGetter): string | undefined;
  /** Calls `done` once the clicks recorded so far are journaled: a cached redirect is answered only then. */
  afterClicksJournaled?(done: () => void): void;
}

/** GitHub's secret-scanning partner endpoint (leaked keys are deactivated). */
const SECRET_SCANNING_PATH = '/secret-scanning/github';
const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** Paths the app serves itself; every other path is a short link. */
const SERVER_PATHS = new Set(['/graphql', '/healthz', '/readyz', SECRET_SCANNING_PATH, METRICS_PATH]);

/** The client's X-Request-Id when it is a sensible one, else a new id. */
function requestIdOf(incoming: string | string[] | null | undefined): string {
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** GraphQL documents are small: a larger body is refused, by Content-Length or while it is read. */
const MAX_BODY_BYTES = 1_000_000;
/** POST bodies that are JSON only: forms, multipart and text/plain are what a cross-site page can send without a preflight. */
const POST_CONTENT_TYPES = ['application/json', 'application/graphql+json', 'application/graphql-response+json'];
/** A Host header: a name or an address (IPv6 in brackets) with an optional port, nothing else. */
const HOST_HEADER = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i;
const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, Accept, Idempotency-Key, X-Request-Id';
const CORS_EXPOSE_HEADERS = [
  ...['Limit', 'Remaining', 'Reset'].flatMap((name) => [`RateLimit-${name}`, `X-RateLimit-${name}`]),
  'Retry-After',
  'X-Request-Id',
].join(', ');

function jsonError(status: number, code: string, message: string, extensions: Record<string, unknown> = {}): Response {
  return Response.json({ errors: [{ message, extensions: { code, ...extensions } }] }, { status });
}

type TrustFunction = (address: string, hop: number) => boolean;

/** proxy-addr's trust test for TRUST_PROXY, or null when X-Forwarded-For is ignored. */
function compileTrust(trustProxy: Config['trustProxy']): TrustFunction | null {
  if (trustProxy === false) return null;
  if ('hops' in trustProxy) {
    const { hops } = trustProxy;
    return (_address, hop) => hop < hops;
  }
  return proxyAddr.compile(trustProxy.proxies);
}

/**
 * The client address: the socket peer, or with TRUST_PROXY the rightmost X-Forwarded-For entry
 * not written by a trusted proxy (entries to its left are whatever the client sent).
 */
function clientIpOf(request: Request, ctx: ServerContext, trust: TrustFunction | null): string | null {
  if (ctx.clientIp) return ctx.clientIp;
  const peer = ctx.remoteAddress ?? ctx.req?.socket.remoteAddress;
  if (!peer) return null;
  if (!trust) return peer;
  const forwardedFor = request.headers.get('x-forwarded-for') ?? undefined;
  const address = proxyAddr({ headers: { 'x-forwarded-for': forwardedFor }, socket: { remoteAddress: peer } } as unknown as IncomingMessage, trust);
  return net.isIP(address) ? address : null;
}

/** The request's URL, or why it cannot be served: a Host that is not a host, a target that is not a path. */
function parseTarget(request: Request, ctx: ServerContext): URL | string {
  const host = request.headers.get('host');
  if (host !== null && !HOST_HEADER.test(host)) {
    return 'Malformed Host header: send the server name or address, with an optional port (e.g. "Host: api.example.com").';
  }
  const target = ctx.req?.url;
  if (target !== undefined && !target.startsWith('/')) {
    return 'Malformed request target: send the path only (e.g. "GET /graphql HTTP/1.1"), not an absolute URL.';
  }
  try {
    return new URL(request.url);
  } catch {
    return 'Malformed request URL: check the Host header and the request path.';
  }
}

function setCorsHeaders(headers: Headers, origin: string | null, allowed: CorsOrigins, preflight: boolean): void {
  // With a list the answer depends on Origin, so caches must keep one copy per origin.
  if (allowed !== '*') headers.append('Vary', 'Origin');
  if (origin === null || (allowed !== '*' && !allowed.includes(origin))) return;
  // Keys travel in the Authorization header, never in cookies: credentials are never allowed.
  headers.set('Access-Control-Allow-Origin', allowed === '*' ? '*' : origin);
  if (preflight) {
    headers.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    headers.set('Access-Control-Allow-Headers', CORS_ALLOW_HEADERS);
    headers.set('Access-Control-Max-Age', '600');
  } else {
    headers.set('Access-Control-Expose-Headers', CORS_EXPOSE_HEADERS);
  }
}

/** The body, read up to `max` bytes whatever Content-Length says (chunked bodies have none), or null past it. */
async function readCappedBody(request: Request, max: number): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      void reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function tooLarge(): Response {
  const response = jsonError(413, 'PAYLOAD_TOO_LARGE', `Request body over ${MAX_BODY_BYTES} bytes: send a smaller query or fewer variables.`);
  // The rest of the body is not read: the connection cannot be reused.
  response.headers.set('Connection', 'close');
  return response;
}

/**
 * The whole HTTP surface without listening: /graphql (checked, then passed to `handlers.graphql`),
 * /healthz, /readyz, and every other path to `handlers.redirect`. `app.fetch(request, { clientIp })`
 * or `{ remoteAddress }` serves tests in process; node's http server serves the rest.
 */
export function createHttpApp(services: Services, handlers: AppHandlers) {
  const { logger, config } = services;
  const trust = compileTrust(config.trustProxy);

  async function graphql(request: Request, context: GraphQLServerContext): Promise<Response> {
    if (request.method === 'OPTIONS') return new Response(null, { status: 204 });
    if (request.method !== 'POST') return handlers.graphql(request, context);
    const mediaType = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!POST_CONTENT_TYPES.includes(mediaType)) {
      return jsonError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `Unsupported Content-Type ${mediaType ? `"${mediaType}"` : '(none)'}: POST /graphql accepts a JSON body sent as ${POST_CONTENT_TYPES.join(', ')}.`,
      );
    }
    if (Number(request.headers.get('content-length') ?? 0) > MAX_BODY_BYTES) return tooLarge();
    const refused = await handlers.authenticate?.(request, context);
    if (refused) {
      // The body is not read: node discards a declared length after the answer; a chunked one may never end.
      if (!request.headers.has('content-length')) refused.headers.set('Connection', 'close');
      return refused;
    }
    const body = await readCappedBody(request, MAX_BODY_BYTES);
    if (body === null) return tooLarge();
    // Every accepted type is JSON: the handler is told so in the one spelling yoga parses.
    const headers = new Headers(request.headers);
    headers.set('content-type', 'application/json');
    const buffered = new Request(request.url, { method: 'POST', headers, body, signal: request.signal });
    return handlers.graphql(buffered, context);
  }

  async function route(request: Request, serverContext: ServerContext, url: URL, requestId: string): Promise<Response> {
    if (url.pathname === '/graphql') {
      const response = await graphql(request, { requestId, clientIp: clientIpOf(request, serverContext, trust) });
      setCorsHeaders(response.headers, request.headers.get('origin'), config.corsOrigins, request.method === 'OPTIONS');
      return response;
    }
    if (url.pathname === '/healthz') return Response.json({ status: 'ok' });
    if (url.pathname === '/readyz') {
      const ready = await services.db.ping(1000);
      return Response.json({ status: ready ? 'ready' : 'database unreachable' }, { status: ready ? 200 : 503 });
    }
    // Always the app's own path (404 while metrics are off), never a short link.
    if (url.pathname === METRICS_PATH) return serveMetrics(request, services);
    if (url.pathname === SECRET_SCANNING_PATH) {
      return serveSecretScanning(request, services, clientIpOf(request, serverContext, trust), () => readCappedBody(request, MAX_REPORT_BYTES));
    }
    return handlers.redirect(request, url);
  }

  /**
   * Node's request listener runs this before the Fetch adapter: a GET or HEAD of a link the cache
   * holds is answered here, with the same checks, headers, request id, click and log line as the
   * full path but no Request or Response objects. False leaves the request to the adapter.
   */
  function serveCached(req: IncomingMessage, res: ServerResponse): boolean {
    if (!handlers.cachedRedirect || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const started = performance.now();
    const { host } = req.headers;
    const target = req.url;
    // Anything unusual (no Host or a malformed one, an absolute target) goes the full way, which answers it.
    if (!host || !HOST_HEADER.test(host) || !target?.startsWith('/')) return false;
    let location: string | undefined;
    let url: URL;
    try {
      // The URL the adapter would build for this request.
      url = new URL(`http://${host}${target}`);
      if (SERVER_PATHS.has(url.pathname)) return false;
      location = handlers.cachedRedirect(req.method, url, (name) => req.headers[name]);
    } catch {
      return false;
    }
    if (location === undefined) return false;
    const requestId = requestIdOf(req.headers['x-request-id']);
    res.writeHead(302, { location, 'cache-control': 'no-store', 'x-request-id': requestId });
    // No click is acknowledged before it is in the journal (one write per event-loop turn).
    if (handlers.afterClicksJournaled) handlers.afterClicksJournaled(() => res.end());
    else res.end();
    if (logger.isLevelEnabled('info')) {
      requestStore.run({ requestId }, () =>
        logger.info({ method: req.method, path: url.pathname, status: 302, ms: Math.round(performance.now() - started) }, 'request'),
      );
    }
    return true;
  }

  async function handle(request: Request, serverContext: ServerContext): Promise<Response> {
    const store: RequestStore = { requestId: requestIdOf(request.headers.get('x-request-id')) };
    const started = performance.now();
    return requestStore.run(store, async () => {
      let path: string | undefined;
      let response: Response;
      try {
        const target = parseTarget(request, serverContext);
        if (typeof target === 'string') {
          response = jsonError(400, 'BAD_REQUEST', target);
          response.headers.set('Connection', 'close');
        } else {
          path = target.pathname;
          response = await route(request, serverContext, target, store.requestId);
        }
      } catch (error) {
        logger.error({ err: error }, 'unexpected error');
        response = jsonError(500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.', { requestId: store.requestId });
      }
      response.headers.set('X-Request-Id', store.requestId);
      logger.info({ method: request.method, path, status: response.status, ms: Math.round(performance.now() - started) }, 'request');
      return response;
    });
  }

  return createServerAdapter<ServerContext, { handle: typeof handle; serveCached: typeof serveCached }>({ handle, serveCached });
}

export type App = ReturnType<typeof createHttpApp>;
