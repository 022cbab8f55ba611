import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { resolvePepper } from './auth/pepper.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/connection.ts';
import { runMigrations } from './db/migrations.ts';
import { bootstrapDemo } from './core/demo.ts';
import { ensureIndexes } from './models/index.ts';
import { createServices, startServices, stopServices, type Services } from './services.ts';
import { createApp, type App } from './yoga.ts';

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface RunningServer {
  url: string;
  services: Services;
  /** Stops accepting, lets in-flight requests finish, flushes batches, closes the DB and the embedded server. */
  stop(): Promise<void>;
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
  const server = http.createServer(app);
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

export async function startServer(
  config: Config,
  logger: Logger,
  options: { announce?: (text: string) => void } = {},
): Promise<RunningServer> {
  const started = performance.now();
  const pepper = resolvePepper(config);
  const db: Database = await openDatabase(config);
  let services: Services | undefined;
  try {
    await ensureIndexes();
    await runMigrations(logger);
    if (db.kind === 'ferretdb' && !config.production) {
      const demo = await bootstrapDemo(pepper);
      if (demo) options.announce?.(demo);
    }
    services = createServices(config, logger, db, pepper);
    startServices(services);
    const app = createApp(services);
    const server = createHttpServer(app);
    // Keep-alive sockets must not hold shutdown open past the in-flight requests.
    server.keepAliveTimeout = 5000;
    await listen(server, config.port, config.host);
    const { port } = server.address() as AddressInfo;
    const hostForUrl = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const url = `http://${hostForUrl.includes(':') ? `[${hostForUrl}]` : hostForUrl}:${port}`;
    logger.info({ url, database: db.kind, ms: Math.round(performance.now() - started) }, 'taapit-api listening');

    const running = services;
    let stopping: Promise<void> | undefined;
    return {
      url,
      services: running,
      stop: () =>
        (stopping ??= (async () => {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeIdleConnections();
          const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
          await closed;
          clearTimeout(timer);
          await stopServices(running);
          await db.close();
          logger.info('taapit-api stopped');
        })()),
    };
  } catch (error) {
    if (services) await stopServices(services).catch(() => {});
    await db.close();
    throw error;
  }
}
