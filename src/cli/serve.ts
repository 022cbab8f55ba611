import type { Config } from '../config.ts';
import { createLogger } from '../logger.ts';
import { startServer } from '../server.ts';

/** Signals closer together than this are one request to stop (npm relays Ctrl+C that the group got too). */
const REPEATED_SIGNAL_MS = 1000;
/** Beyond SHUTDOWN_TIMEOUT_MS: the final flush and stopping the database must fit in this. */
const SHUTDOWN_GRACE_MS = 1900;

const err = (line: string) => process.stderr.write(`${line}\n`);

/** Serves the API until SIGTERM or SIGINT, then shuts down cleanly and exits (see the README's quick start). */
export async function serve(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  // Words for people (the demo key, where the API is) go to stderr: stdout is the JSON log, one object per line.
  const server = await startServer(config, logger, { announce: err });
  err(`taapit-api on ${server.url}/graphql (GraphiQL in a browser); Ctrl+C stops it.`);
  let firstSignalAt: number | undefined;
  const exit = (code: number) => {
    logger.flush();
    process.exit(code);
  };
  const shutdown = (signal: string) => {
    if (firstSignalAt !== undefined) {
      // A second, deliberate signal: stop now, counts not yet written are lost.
      if (Date.now() - firstSignalAt >= REPEATED_SIGNAL_MS) exit(1);
      return;
    }
    firstSignalAt = Date.now();
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ ms: config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS }, 'shutdown did not finish in time; exiting');
      exit(1);
    }, config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS).unref();
    server.stop().then(
      ({ flushed }) => exit(flushed ? 0 : 1),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
