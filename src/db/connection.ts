import mongoose from 'mongoose';
import type { Config } from '../config.ts';
import { isDatabaseUnavailable } from '../errors.ts';
import { applyQueryDeadline, socketTimeoutFor } from './deadlines.ts';
import { findRunningEmbedded, startEmbeddedFerret, type EmbeddedServer } from './embedded.ts';
import { setReadConnection } from './read-connection.ts';

// Fail fast instead of queueing operations while disconnected: callers get an error they can report.
mongoose.set('bufferCommands', false);
mongoose.set('autoIndex', false);
mongoose.set('autoCreate', false);

export class DatabaseError extends Error {
  override name = 'DatabaseError';
}

export interface Database {
  kind: 'ferretdb' | 'mongodb';
  connection: mongoose.Connection;
  /** The embedded FerretDB's second connection, for slow reads (see read-connection.ts); none on MongoDB. */
  reader?: mongoose.Connection;
  embedded?: EmbeddedServer;
  /** Resolves true when the server answered a ping within timeoutMs. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** The host list of a connection string, without credentials, for error messages. */
export function describeHosts(uri: string): string {
  const match = /^mongodb(?:\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri);
  return match?.[1] ?? 'the configured host';
}

export interface ConnectOptions {
  /** FerretDB v1 applies updates read-modify-write per connection: one connection keeps $inc exact. */
  ferret: boolean;
  timeoutMs: number;
  /** Deadline of every read (maxTimeMS), DB_QUERY_TIMEOUT_MS; 10 s when not given. */
  queryTimeoutMs?: number;
  /** Emit driver command events (tests count round trips with them). */
  monitorCommands?: boolean;
}

/** DB_QUERY_TIMEOUT_MS's default, for connections opened without a config (tests, scripts). */
const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
/** Scans on the embedded database run side by side on this many connections, apart from the main one. */
const READ_POOL_SIZE = 4;

/**
 * How long an operation waits for a reachable server before failing: the answer while the
 * database is down (503) comes within a second rather than after DB_TIMEOUT_MS. Start-up retries
 * for DB_TIMEOUT_MS (connectWithin), so a slow first handshake is still waited for.
 */
export const SERVER_SELECTION_TIMEOUT_MS = 600;
/** How often the driver checks the server when idle: an outage, and the recovery, are seen within this. */
const HEARTBEAT_FREQUENCY_MS = 2000;

function clientOptions(options: ConnectOptions, ferretPoolSize: number, selectionTimeoutMs: number): mongoose.ConnectOptions {
  return {
    serverSelectionTimeoutMS: selectionTimeoutMs,
    heartbeatFrequencyMS: HEARTBEAT_FREQUENCY_MS,
    connectTimeoutMS: options.timeoutMs,
    socketTimeoutMS: socketTimeoutFor(options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS),
    monitorCommands: options.monitorCommands ?? false,
    ...(options.ferret ? { maxPoolSize: ferretPoolSize, directConnection: true, retryWrites: false } : {}),
  };
}

function unreachable(uri: string, options: ConnectOptions, error: unknown): DatabaseError {
  return new DatabaseError(
    `cannot reach the database at ${describeHosts(uri)} within ${options.timeoutMs} ms (${(error as Error).name}): check MONGODB_URI and that the server is running.`,
  );
}

/**
 * Runs `attempt` (a connect given its server selection timeout) until it succeeds, fails for
 * another reason than an unreachable server, or `options.timeoutMs` has passed; `reset` undoes a failed one.
 */
async function connectWithin(uri: string, options: ConnectOptions, attempt: (selectionTimeoutMs: number) => Promise<unknown>, reset: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    try {
      await attempt(Math.max(1, Math.min(SERVER_SELECTION_TIMEOUT_MS, left)));
      return;
    } catch (error) {
      await reset().catch(() => {});
      if (!isDatabaseUnavailable(error) || deadline - Date.now() <= 0) throw unreachable(uri, options, error);
    }
  }
}

export async function connectMongoose(uri: string, options: ConnectOptions): Promise<mongoose.Connection> {
  await connectWithin(
    uri,
    options,
    (selectionTimeoutMs) => mongoose.connect(uri, clientOptions(options, 1, selectionTimeoutMs)),
    () => mongoose.disconnect(),
  );
  applyQueryDeadline(mongoose.connection, options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS);
  return mongoose.connection;
}

/**
 * The embedded FerretDB's second connection, for listings, counts and aggregates (readerOf): they
 * scan, and on the single main connection every other request would wait behind them. Reads only,
 * so the lost-update problem of several connections does not arise.
 */
export async function connectReader(uri: string, options: Omit<ConnectOptions, 'ferret'>): Promise<mongoose.Connection> {
  let connection!: mongoose.Connection;
  await connectWithin(
    uri,
    { ...options, ferret: true },
    (selectionTimeoutMs) => (connection = mongoose.createConnection(uri, clientOptions({ ...options, ferret: true }, READ_POOL_SIZE, selectionTimeoutMs))).asPromise(),
    () => connection.close(),
  );
  applyQueryDeadline(connection, options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS);
  return connection;
}

function makeDatabase(kind: Database['kind'], connection: mongoose.Connection, embedded?: EmbeddedServer, reader?: mongoose.Connection): Database {
  setReadConnection(reader ?? null);
  return {
    kind,
    connection,
    reader,
    embedded,
    async ping(timeoutMs = 1000) {
      const db = connection.db;
      if (!db) return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
      const ping = db.command({ ping: 1 }).then(
        () => true,
        () => false,
      );
      const ok = await Promise.race([ping, timeout]);
      clearTimeout(timer);
      return ok;
    },
    async close() {
      setReadConnection(null);
      await reader?.close().catch(() => {});
      await mongoose.disconnect().catch(() => {});
      await embedded?.stop();
    },
  };
}

/** MONGODB_URI when set, otherwise the embedded FerretDB under DATA_DIR. */
export async function openDatabase(config: Config): Promise<Database> {
  const options = { timeoutMs: config.dbTimeoutMs, queryTimeoutMs: config.dbQueryTimeoutMs };
  if (config.mongodbUri) {
    const connection = await connectMongoose(config.mongodbUri, { ...options, ferret: false });
    return makeDatabase('mongodb', connection);
  }
  // A server already running on this DATA_DIR owns the embedded database: share it (the CLI does this).
  const running = await findRunningEmbedded(config.dataDir);
  const embedded = running ? undefined : await startEmbeddedFerret({ dataDir: config.dataDir });
  const uri = (running ?? embedded)!.uri('taapit');
  try {
    const connection = await connectMongoose(uri, { ...options, ferret: true });
    const reader = await connectReader(uri, options).catch(async (error: unknown) => {
      await mongoose.disconnect().catch(() => {});
      throw error;
    });
    return makeDatabase('ferretdb', connection, embedded, reader);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}

/** A Database over connections opened elsewhere (tests, scripts); `reader` as connectReader opens it. */
export function databaseFromConnection(kind: Database['kind'], connection: mongoose.Connection, reader?: mongoose.Connection): Database {
  return makeDatabase(kind, connection, undefined, reader);
}
