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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
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
}
