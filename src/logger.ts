import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * What every log line of a request carries, to correlate them; nothing else. Request state
 * (the key, its rate limit) lives on the GraphQL context.
 */
export interface RequestStore {
  requestId: string;
  keyId?: string;
}

export const requestStore = new AsyncLocalStorage<RequestStore>();

/**
 * The process log is one JSON object per line (stdout unless `destination` is given). Without a
 * destination it is the server's own log, and node's warnings (deprecations, experimental
 * features, listener leaks) go into it: node would print them raw on stderr.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: undefined,
      // Secrets never reach the logs: headers are redacted wherever they are logged.
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'secret', '*.secret'],
        censor: '[redacted]',
      },
      mixin() {
        const store = requestStore.getStore();
        return store ? { requestId: store.requestId, keyId: store.keyId } : {};
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
  if (!destination) logWarnings(logger);
  return logger;
}

/** Replaces node's printing of process warnings (every earlier 'warning' listener) by a log line. */
export function logWarnings(logger: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    logger.warn({ warning: { name: warning.name, code: warning.code, message: warning.message } }, 'process warning');
  });
}
