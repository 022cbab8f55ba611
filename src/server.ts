import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createPepperFile, readPepper } from './auth/pepper.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/connection.ts';
import { runMigrations } from './db/migrations.ts';
import { bootstrapDemo } from './core/demo.ts';
import { ApiKey } from './models/api-key.ts';
import { ensureIndexes } from './models/index.ts';
import { createServices, openClickJournal, startServices, stopServices, type Services } from './services.ts';
import { createApp, type App } from './yoga.ts';

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface RunningServer {
  url: string;
  services: Services;
  /**
   * Stops accepting, answers what is in flight (the last answer on each connection), flushes
   * batches, closes the DB and stops the embedded server last. `flushed` is false when some counts
   * could not be written.
   */
  stop(): Promise<{ flushed: boolean }>;
}

/** What node refuses before the app sees a request (a broken request line, bad header bytes, headers too large). */
function clientErrorResponse(error: NodeJS.ErrnoException): string {
  const [status, reason, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'Request headers too large: send fewer or shorter headers.']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'The request took too long to arrive.']
        : [400, 'Bad Request', 'Malformed HTTP request: check the request line and the headers.'];
  const body = JSON.stringify({ errors: [{ message, extensions: { code: status === 400 ? 'BAD_REQUEST' : status === 431 ? 'HEADERS_TOO_LARGE' : 'REQUEST_TIMEOUT' } }] });
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** The node server for the app: the one place that owns socket-level behaviour (used by tests too). */
export function createHttpServer(app: App): http.Server {
  // Cached redirects are answered straight on node's objects; everything else goes through the adapter.
  const serveCached = app.serveCached;
  const server = http.createServer((req, res) => {
    if (!serveCached(req, res)) void app(req, res);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // Answer in JSON like the rest of the API (never node's internals), then close.
    if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    socket.end(clientErrorResponse(error));
  });
  return server;
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') {
        reject(new StartupError(`PORT ${port} on ${host} is already in use: stop the other process or set PORT to a free port.`));
      } else if (error.code === 'EACCES') {
        reject(new StartupError(`PORT ${port} on ${host} needs privileges this user lacks: use a port above 1023.`));
      } else reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** How long a stopping server leaves idle kept-alive connections open (and then again, until all are gone). */
const IDLE_CLOSE_GRACE_MS = 200;

/** Fails with the listen error when the port is taken, before anything is started or printed. */
async function checkPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = http.createServer();
  await listen(probe, port, host);
  await new Promise((resolve) => probe.close(resolve));
}

/**
 * The pepper once the database is open. A missing pepper file is generated only for a database
 * without keys: with keys, a new pepper would silently invalidate every one of them.
 */
export async function pepperFor(config: Config, known: string | null): Promise<string> {
  // Key records, not secret documents: a database from before those were migrated has only records.
  return known ?? createPepperFile(config, (await ApiKey.exists({})) !== null);
}

/** Resolves `value` unless it takes longer than `ms`, then `fallback`. */
async function within<T>(value: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([value, late]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startServer(
  config: Config,
  logger: Logger,
  options: { announce?: (text: string) => void } = {},
): Promise<RunningServer> {
  const started = performance.now();
  await checkPortFree(config.port, config.host);
  const knownPepper = readPepper(config);
  const db: Database = await openDatabase(config);
  db.embedded?.onEvent((event) => logger[event.level](event.fields, event.message));
  let services: Services | undefined;
  try {
    const pepper = await pepperFor(config, knownPepper);
    await ensureIndexes();
    await runMigrations(logger, { shortDomain: config.shortDomain });
    if (db.kind === 'ferretdb' && !config.production) {
      const demo = await bootstrapDemo(pepper);
      if (demo) options.announce?.(demo);
    }
    services = createServices(config, logger, db, pepper);
    await openClickJournal(services).catch((error: NodeJS.ErrnoException) => {
      if (!error.code) throw error;
      const full = error.code === 'ENOSPC';
      throw new StartupError(
        `DATA_DIR ${JSON.stringify(config.dataDir)} ${full ? 'is full' : 'is not writable'} (${error.code}): the click journal is kept there; ${full ? 'free some space' : 'choose a directory this user can write'} or set DATA_DIR.`,
      );
    });
    startServices(services);
    const app = createApp(services);
    const server = createHttpServer(app);
    // Keep-alive sockets must not hold shutdown open past the in-flight requests.
    server.keepAliveTimeout = 5000;
    // Once stopping, every answer is its connection's last, so kept-alive clients go elsewhere.
    let closing = false;
    const inFlight = new Set<http.ServerResponse>();
    const sockets = new Set<net.Socket>();
    server.on('connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    // node's idle list holds connections that finished a request; one that never sent a byte is idle too.
    const closeIdle = () => {
      server.closeIdleConnections();
      for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
    };
    server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      if (closing) return void res.setHeader('Connection', 'close');
      inFlight.add(res);
      res.once('close', () => inFlight.delete(res));
    });
    await listen(server, config.port, config.host);
    const { port } = server.address() as AddressInfo;
    const hostForUrl = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const url = `http://${hostForUrl.includes(':') ? `[${hostForUrl}]` : hostForUrl}:${port}`;
    logger.info({ url, database: db.kind, ms: Math.round(performance.now() - started) }, 'taapit-api listening');

    const running = services;
    let stopping: Promise<{ flushed: boolean }> | undefined;
    return {
      url,
      services: running,
      stop: () =>
        (stopping ??= (async () => {
          const deadline = Date.now() + config.shutdownTimeoutMs;
          closing = true;
          for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
          // Stop accepting, but leave kept-alive connections a moment: a request a client is sending
          // right now gets its answer (with Connection: close) instead of a reset connection.
          // (http.Server#close would close idle connections at once.)
          const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
          const idleTimer = setInterval(closeIdle, IDLE_CLOSE_GRACE_MS);
          const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
          await closed;
          clearInterval(idleTimer);
          clearTimeout(timer);
          // What is left of the budget plus a little: a hung database must not hold the exit.
          const flushed = await within(stopServices(running), Math.max(deadline - Date.now(), 0) + 700, false);
          if (!flushed) logger.error('some click or usage counts could not be written to the database');
          await within(db.close(), 1000, undefined);
          logger.info({ flushed }, 'taapit-api stopped');
          return { flushed };
        })()),
    };
  } catch (error) {
    if (services) await stopServices(services).catch(() => {});
    await db.close();
    throw error;
  }
}
