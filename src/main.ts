import { parseArgs } from 'node:util';
import { Types } from 'mongoose';
import pino, { type Logger } from 'pino';
import { readPepper } from './auth/pepper.ts';
import { PERMISSIONS, RESOURCES, ACCESS_LEVELS, type Permission, type Scope } from './rules/permissions.ts';
import { loadConfig, type Config } from './config.ts';
import { BackupError, pepperCheck, restoreBackup, writeBackup } from './db/backup.ts';
import { openDatabase } from './db/connection.ts';
import { findRunningEmbedded } from './db/embedded.ts';
import { runMigrations } from './db/migrations.ts';
import { recountLinkCounters } from './db/recount.ts';
import { createActor, type Actor } from './core/actor.ts';
import { createApiKey, deactivateApiKey, listApiKeys } from './core/api-keys.ts';
import type { Position } from './core/listing.ts';
import { seedDemo } from './core/demo.ts';
import { createUser, findUserByEmail } from './core/users.ts';
import { NotFoundError } from './errors.ts';
import { createLogger } from './logger.ts';
import { ensureIndexes } from './models/index.ts';
import { parseGlobalId } from './schema/ids.ts';
import { pepperFor, startServer } from './server.ts';
import { createServices } from './services.ts';

const USAGE = `Usage: taapit-api <command> [options]

Commands:
  serve                                   Serve the API (default)
  user create --email E --name N          Create a user
  key create --email E --name N --permission FULL|READ_ONLY|LIMITED
             [--scope RESOURCE:ACCESS ...] [--workspace ID ...] [--expires-in 30d]
                                          Create a key; prints only the secret on stdout
  key list --email E                      List a user's keys (no secrets)
  key deactivate --id ID                  Deactivate a key
  seed-demo                               Create the demo user/workspace and print a new FULL key
  recount                                 Recompute the link counters behind totalCount
  backup --out FILE                       Dump every collection to FILE (JSON lines; gzip if FILE ends in .gz)
  restore --in FILE [--force]             Load a backup into an empty database (--force: delete everything first)

Without MONGODB_URI the embedded FerretDB under DATA_DIR is used (shared with a running server).`;

class UsageError extends Error {}

function parseDuration(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (!match) throw new UsageError(`--expires-in ${JSON.stringify(text)} is invalid: use a number and s, m, h or d, e.g. 30d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit * 1000;
}

function parseScope(text: string): Scope {
  const [resource, access] = text.toUpperCase().split(':');
  if (!RESOURCES.includes(resource as never) || !ACCESS_LEVELS.includes(access as never)) {
    throw new UsageError(`--scope ${JSON.stringify(text)} is invalid: use RESOURCE:ACCESS with RESOURCE in ${RESOURCES.join(', ')} and ACCESS READ or WRITE`);
  }
  return { resource, access } as Scope;
}

function parseObjectId(text: string, typename: string): Types.ObjectId {
  const id = Types.ObjectId.isValid(text) && /^[0-9a-f]{24}$/i.test(text) ? new Types.ObjectId(text) : parseGlobalId(text, typename);
  if (!id) throw new UsageError(`${JSON.stringify(text)} is not a ${typename} id`);
  return id;
}

function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || !value) throw new UsageError(`--${name} is required`);
  return value;
}

/**
 * Runs one command on the database as the trusted actor: no key, so no key bounds what it does
 * (whoever runs the CLI has the database already). Nothing is batched, so no services start.
 */
async function withDatabase<T>(
  config: Config,
  logger: Logger,
  knownPepper: string | null,
  run: (actor: Actor, pepper: string) => Promise<T>,
): Promise<T> {
  const db = await openDatabase(config);
  try {
    const pepper = await pepperFor(config, knownPepper);
    await ensureIndexes();
    await runMigrations(logger);
    return await run(createActor(createServices(config, logger, db, pepper), null), pepper);
  } finally {
    await db.close();
  }
}

/** Rows per query when the CLI lists every key of a user. */
const LIST_CHUNK = 100;

const err = (line: string) => process.stderr.write(`${line}\n`);

/** Signals closer together than this are one request to stop (npm relays Ctrl+C that the group got too). */
const REPEATED_SIGNAL_MS = 1000;
/** Beyond SHUTDOWN_TIMEOUT_MS: the final flush and stopping the database must fit in this. */
const SHUTDOWN_GRACE_MS = 1900;

async function serve(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger, { announce: (text) => process.stdout.write(`${text}\n`) });
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

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      permission: { type: 'string' },
      scope: { type: 'string', multiple: true },
      workspace: { type: 'string', multiple: true },
      'expires-in': { type: 'string' },
      id: { type: 'string' },
      out: { type: 'string' },
      in: { type: 'string' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals.join(' ') || 'serve';
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfig();
  if (command === 'serve') return serve(config);
  // CLI logs (if any) go to stderr so stdout carries only the command's output.
  const logger = createLogger(config.logLevel, pino.destination(2));
  const pepper = readPepper(config);
  const inDatabase = <T>(run: (actor: Actor, pepper: string) => Promise<T>) => withDatabase(config, logger, pepper, run);

  switch (command) {
    case 'user create': {
      const email = required(values, 'email');
      const name = required(values, 'name');
      const user = await inDatabase(() => createUser(email, name));
      process.stdout.write(`${user._id}\n`);
      err(`created user ${user.email}`);
      return;
    }
    case 'key create': {
      const email = required(values, 'email');
      const name = required(values, 'name');
      const permission = required(values, 'permission').toUpperCase() as Permission;
      if (!PERMISSIONS.includes(permission)) throw new UsageError(`--permission must be one of ${PERMISSIONS.join(', ')}`);
      const scopes = (values.scope ?? []).map(parseScope);
      const workspaceIds = (values.workspace ?? []).map((w) => parseObjectId(w, 'Workspace'));
      const expiresIn = values['expires-in'];
      const expiresAt = expiresIn ? new Date(Date.now() + parseDuration(expiresIn)) : null;
      const created = await inDatabase(async (actor) => {
        const user = await findUserByEmail(email);
        if (!user) throw new UsageError(`no user with e-mail ${email}: create it with \`taapit-api user create\``);
        return createApiKey(actor, { userId: user._id, name, permission, scopes, workspaceIds, expiresAt });
      });
      err(`created ${created.doc.permission} key "${created.doc.name}" (${created.doc.hint}, id ${created.doc._id}); the secret below is shown only once:`);
      process.stdout.write(`${created.secret}\n`);
      return;
    }
    case 'key list': {
      const email = required(values, 'email');
      await inDatabase(async (actor) => {
        const user = await findUserByEmail(email);
        if (!user) throw new UsageError(`no user with e-mail ${email}`);
        const list = listApiKeys(actor, { userId: user._id });
        let listed = 0;
        for (let after: Position | null = null; ; ) {
          const chunk = await list.page({ after, before: null, limit: LIST_CHUNK, backward: false });
          for (const key of chunk) {
            process.stdout.write(
              `${key._id}  ${key.status.padEnd(11)} ${key.permission.padEnd(9)} ${key.hint}  ${key.name}  used ${key.usageCount}x${key.lastUsedAt ? `, last ${key.lastUsedAt.toISOString()}` : ''}\n`,
            );
          }
          listed += chunk.length;
          if (chunk.length < LIST_CHUNK) break;
          after = list.positionOf(chunk.at(-1)!);
        }
        if (listed === 0) err('no keys');
      });
      return;
    }
    case 'key deactivate': {
      const id = parseObjectId(required(values, 'id'), 'ApiKey');
      await inDatabase(async (actor) => {
        const key = await deactivateApiKey(actor, id).catch((error: unknown) => {
          throw error instanceof NotFoundError ? new UsageError(`no key with id ${id}`) : error;
        });
        err(`deactivated key ${key.hint} (${key.name}); every running server refuses it within a second`);
      });
      return;
    }
    case 'seed-demo': {
      const created = await inDatabase((_actor, pepper) => seedDemo(pepper));
      err(`demo user demo@taapit.local with a "Demo workspace"; new FULL key (shown only once):`);
      process.stdout.write(`${created.secret}\n`);
      return;
    }
    case 'recount': {
      const written = await inDatabase(() => recountLinkCounters({ missingOnly: false }));
      err(`recounted ${written} link counter(s)`);
      return;
    }
    case 'backup': {
      const out = required(values, 'out');
      // Only a database no server shares is quiet for the whole dump.
      const quiescent = !config.mongodbUri && !(await findRunningEmbedded(config.dataDir));
      const started = performance.now();
      const db = await openDatabase(config);
      try {
        const header = await writeBackup(db.connection.db!, out, { quiescent, pepper }).catch(backupFailure);
        const total = Object.values(header.counts).reduce((a, b) => a + b, 0);
        err(`backed up ${total} document(s) of ${header.collections.length} collection(s) to ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        if (!quiescent) {
          err('note: the database was in use (a running server or MONGODB_URI): each document is as it was when read, but writes made during the dump may be partly in it; stop the server for a consistent backup.');
        }
        err('the backup holds key hashes and all data: keep it as safe as the database; it does not hold the pepper (api-key-pepper / API_KEY_PEPPER), back that up separately.');
      } finally {
        await db.close();
      }
      return;
    }
    case 'restore': {
      const file = required(values, 'in');
      if (!config.mongodbUri && (await findRunningEmbedded(config.dataDir))) {
        throw new UsageError(`a server is running on DATA_DIR ${config.dataDir}: stop it before restoring (it caches keys and links and keeps writing counts).`);
      }
      const started = performance.now();
      const db = await openDatabase(config);
      try {
        const header = await restoreBackup(db.connection.db!, file, { force: values.force ?? false }).catch(backupFailure);
        await runMigrations(logger);
        const total = Object.values(header.counts).reduce((a, b) => a + b, 0);
        err(`restored ${total} document(s) of ${header.collections.length} collection(s) from ${file} (made ${header.createdAt}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        if (header.pepperCheck && !pepper) {
          err(`warning: no pepper here: copy api-key-pepper from the backed-up DATA_DIR to ${config.dataDir} or set API_KEY_PEPPER; without it no restored key verifies and the server refuses to start.`);
        } else if (header.pepperCheck && pepperCheck(pepper) !== header.pepperCheck) {
          err('warning: this pepper is not the one the backed-up keys were made with: no restored key will verify; use the backed-up api-key-pepper or API_KEY_PEPPER.');
        }
      } finally {
        await db.close();
      }
      return;
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

/** A bad or damaged backup file, or a database that is not empty, is the user's to fix: exit 2. */
function backupFailure(error: unknown): never {
  throw error instanceof BackupError ? new UsageError(error.message) : error;
}

run(process.argv.slice(2)).catch((error: unknown) => {
  // One line, never a stack trace: every error we raise on purpose says what to fix.
  err(`taapit-api: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.DEBUG && error instanceof Error) err(error.stack ?? '');
  process.exit(error instanceof UsageError ? 2 : 1);
});
