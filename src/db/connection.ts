import mongoose from 'mongoose';
import type { Config } from '../config.ts';
import { findRunningEmbedded, startEmbeddedFerret, type EmbeddedServer } from './embedded.ts';

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
  /** Emit driver command events (tests count round trips with them). */
  monitorCommands?: boolean;
}

export async function connectMongoose(uri: string, options: ConnectOptions): Promise<mongoose.Connection> {
  try {
    await mongoose.connect(uri, {
      serverSelectionTimeoutMS: options.timeoutMs,
      connectTimeoutMS: options.timeoutMs,
      monitorCommands: options.monitorCommands ?? false,
      ...(options.ferret ? { maxPoolSize: 1, directConnection: true, retryWrites: false } : {}),
    });
  } catch (error) {
    await mongoose.disconnect().catch(() => {});
    throw new DatabaseError(
      `cannot reach the database at ${describeHosts(uri)} within ${options.timeoutMs} ms (${(error as Error).name}): check MONGODB_URI and that the server is running.`,
    );
  }
  return mongoose.connection;
}

function makeDatabase(kind: Database['kind'], connection: mongoose.Connection, embedded?: EmbeddedServer): Database {
  return {
    kind,
    connection,
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
      await mongoose.disconnect().catch(() => {});
      await embedded?.stop();
    },
  };
}

/** MONGODB_URI when set, otherwise the embedded FerretDB under DATA_DIR. */
export async function openDatabase(config: Config): Promise<Database> {
  if (config.mongodbUri) {
    const connection = await connectMongoose(config.mongodbUri, { ferret: false, timeoutMs: config.dbTimeoutMs });
    return makeDatabase('mongodb', connection);
  }
  // A server already running on this DATA_DIR owns the embedded database: share it (the CLI does this).
  const running = await findRunningEmbedded(config.dataDir);
  if (running) {
    const connection = await connectMongoose(running.uri('taapit'), { ferret: true, timeoutMs: config.dbTimeoutMs });
    return makeDatabase('ferretdb', connection);
  }
  const embedded = await startEmbeddedFerret({ dataDir: config.dataDir });
  try {
    const connection = await connectMongoose(embedded.uri('taapit'), { ferret: true, timeoutMs: config.dbTimeoutMs });
    return makeDatabase('ferretdb', connection, embedded);
  } catch (error) {
    await embedded.stop();
    throw error;
  }
}

export function databaseFromConnection(kind: Database['kind'], connection: mongoose.Connection): Database {
  return makeDatabase(kind, connection);
}
