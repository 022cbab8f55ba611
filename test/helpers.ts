import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import mongoose, { Types } from 'mongoose';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Permission, Role, Scope } from '../src/rules/permissions.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { connectMongoose, connectReader, databaseFromConnection, type Database } from '../src/db/connection.ts';
import { insertApiKey, type KeySpec } from '../src/core/api-keys.ts';
import { createLogger } from '../src/logger.ts';
import { ensureIndexes } from '../src/models/index.ts';
import { User, type UserDoc } from '../src/models/user.ts';
import { Membership, Workspace, type WorkspaceDoc } from '../src/models/workspace.ts';
import { toGlobalId } from '../src/schema/ids.ts';
import { createServices, startServices, stopServices, type Services } from '../src/services.ts';
import { createHttpServer } from '../src/server.ts';
import { createApp, type App } from '../src/yoga.ts';

export const TEST_PEPPER = 'test-pepper-0123456789-abcdefghijklmnopqrstuvwxyz';

/** Builds the URI of a database on the server under test. */
export function testDbUri(dbName: string): string {
  const base = inject('mongoBase');
  if (base.kind === 'ferretdb') return `${base.uri}/${dbName}?directConnection=true&retryWrites=false`;
  const url = new URL(base.uri);
  url.pathname = `/${dbName}`;
  return url.toString();
}

export function isFerret(): boolean {
  return inject('mongoBase').kind === 'ferretdb';
}

/** Connects this test file to a fresh database, dropped after the file. */
export function useTestDatabase(): { db: () => Database; commands: string[]; started: { commandName: string; command: Record<string, any> }[] } {
  let db: Database | undefined;
  const commands: string[] = [];
  /** The same commands with their bodies (filters), for tests that check what a query asks. */
  const started: { commandName: string; command: Record<string, any> }[] = [];
  beforeAll(async () => {
    const name = `t_${randomBytes(6).toString('hex')}`;
    const connection = await connectMongoose(testDbUri(name), { ferret: isFerret(), timeoutMs: 10_000, monitorCommands: true });
    // On FerretDB slow reads have their own connection, as in the server: its commands count too.
    const reader = isFerret() ? await connectReader(testDbUri(name), { timeoutMs: 10_000, monitorCommands: true }) : undefined;
    for (const client of [connection.getClient(), reader?.getClient()]) {
      client?.on('commandStarted', (event) => {
        commands.push(event.commandName);
        started.push({ commandName: event.commandName, command: event.command });
      });
    }
    await ensureIndexes();
    db = databaseFromConnection(isFerret() ? 'ferretdb' : 'mongodb', connection, reader);
  });
  afterAll(async () => {
    await mongoose.connection.db?.dropDatabase().catch(() => {});
    await mongoose.disconnect();
  });
  return { db: () => db!, commands, started };
}

const NOT_DATA_COMMANDS = ['hello', 'ismaster', 'isMaster', 'ping', 'endSessions'];

/** Counts the data commands (not handshakes or pings) that `run` sends. */
export async function countQueries(commands: string[], run: () => Promise<unknown>): Promise<{ count: number; names: string[] }> {
  const before = commands.length;
  await run();
  const names = commands.slice(before).filter((name) => !NOT_DATA_COMMANDS.includes(name));
  return { count: names.length, names };
}

/** The data commands `run` sends, with their bodies (from useTestDatabase's `started`). */
export async function commandsDuring(
  started: { commandName: string; command: Record<string, any> }[],
  run: () => Promise<unknown>,
): Promise<{ commandName: string; command: Record<string, any> }[]> {
  const before = started.length;
  await run();
  return started.slice(before).filter((c) => !NOT_DATA_COMMANDS.includes(c.commandName));
}

export class LogCapture extends Writable {
  lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.lines.push(chunk.toString());
    done();
  }
  get text() {
    return this.lines.join('');
  }
}

export interface TestApp {
  app: App;
  services: Services;
  logs: LogCapture;
  config: Config;
  close(): Promise<void>;
}

export function testConfig(env: Record<string, string> = {}): Config {
  // Batches flush only when a test says so (flush() or close()), so timers never race the
  // assertions or the round-trip counts.
  return loadConfig({
    API_KEY_PEPPER: TEST_PEPPER,
    SHORT_DOMAIN: 'tpt.test',
    LOG_LEVEL: 'info',
    USAGE_FLUSH_MS: '60000',
    CLICK_FLUSH_MS: '60000',
    // Suites make many anonymous and failing calls from 127.0.0.1; test/edge.test.ts sets these limits itself.
    ANONYMOUS_RATE_LIMIT_PER_MINUTE: '100000',
    AUTH_FAILURE_LIMIT_PER_MINUTE: '100000',
    // Suites run many big queries per key within a minute; test/cost.test.ts sets the budget itself.
    RATE_LIMIT_POINTS_PER_MINUTE: '100000000',
    // One instance per test app: no reads of the key change log in the round-trip counts (test/instances.test.ts reads it).
    KEY_REVOCATION_POLL_MS: '0',
    ...env,
  });
}

export function createTestApp(db: Database, env: Record<string, string> = {}, overrides: Parameters<typeof createServices>[4] = {}): TestApp {
  const config = testConfig(env);
  const logs = new LogCapture();
  const services = createServices(config, createLogger(config.logLevel, logs), db, TEST_PEPPER, overrides);
  startServices(services);
  return {
    app: createApp(services),
    services,
    logs,
    config,
    close: async () => void (await stopServices(services)),
  };
}

export interface GqlResult<T = any> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[]; extensions?: Record<string, any> };
  /** The answer's extensions.cost, taken out of `body` so that bodies compare as they are (see test/cost.test.ts). */
  cost?: Record<string, any>;
}

/** One GraphQL call through app.fetch, in process. */
export async function gql<T = any>(
  app: App,
  query: string,
  variables: Record<string, unknown> = {},
  options: { key?: string | null; authorization?: string; ip?: string } = {},
): Promise<GqlResult<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (options.authorization) headers.authorization = options.authorization;
  else if (options.key) headers.authorization = `Bearer ${options.key}`;
  const response = await app.fetch(
    new Request('http://tpt.test/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) }),
    { clientIp: options.ip ?? '127.0.0.1' },
  );
  return { status: response.status, headers: response.headers, ...withoutCost(await response.json()) };
}

/** Moves extensions.cost, which every answer carries, out of the body. */
export function withoutCost<B extends { extensions?: Record<string, any> }>(body: B): { body: B; cost?: Record<string, any> } {
  const cost = body?.extensions?.cost;
  if (!cost) return { body };
  const { cost: _cost, ...rest } = body.extensions!;
  const { extensions: _extensions, ...others } = body;
  return { body: (Object.keys(rest).length > 0 ? { ...others, extensions: rest } : others) as B, cost };
}

/** Serves the app on a real loopback socket. */
export async function listenOnSocket(app: App): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let counter = 0;

export async function makeUser(name = 'user'): Promise<UserDoc> {
  counter += 1;
  return (await User.create({ name, email: `${name}-${counter}-${randomBytes(3).toString('hex')}@example.com` })).toObject();
}

export async function makeWorkspace(owner: UserDoc, name = 'workspace', members: [UserDoc, Role][] = []): Promise<WorkspaceDoc> {
  const workspace = (await Workspace.create({ name, createdByUserId: owner._id })).toObject();
  await Membership.create({ workspaceId: workspace._id, userId: owner._id, role: 'OWNER' });
  for (const [user, role] of members) await Membership.create({ workspaceId: workspace._id, userId: user._id, role });
  return workspace;
}

export async function makeKey(
  user: UserDoc,
  permission: Permission = 'FULL',
  extra: Partial<KeySpec> & { scopes?: Scope[] } = {},
): Promise<{ secret: string; id: string; globalId: string }> {
  const created = await insertApiKey({
    userId: user._id,
    pepper: TEST_PEPPER,
    createdVia: 'CLI',
    spec: {
      name: `${permission} key`,
      permission,
      scopes: [],
      workspaces: [],
      expiresAt: null,
      allowedIps: [],
      rateLimit: null,
      ...extra,
    },
  });
  return { secret: created.secret, id: String(created.doc._id), globalId: toGlobalId('ApiKey', created.doc._id) };
}

export const gid = (typename: string, id: Types.ObjectId | string) => toGlobalId(typename, id);
