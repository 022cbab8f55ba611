import { readFileSync } from 'node:fs';
import path from 'node:path';
import proxyAddr from 'proxy-addr';
import { parseSigningKeys, type SigningKeys } from './rules/secret-scanning.ts';

/** Thrown for a bad environment value; its message is the one line start-up prints. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type IntrospectionMode = 'public' | 'key' | 'off';
export type RateLimitStore = 'memory' | 'mongo';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/**
 * Who may write X-Forwarded-For: nobody, the nearest `hops` proxies, or these addresses/ranges
 * (proxy-addr names loopback, linklocal, uniquelocal allowed). Never "every hop".
 */
export type TrustProxy = false | { hops: number } | { proxies: string[] };
/** `*` (any origin, no credentials) or the exact origins a browser may call from. */
export type CorsOrigins = '*' | string[];

export interface Config {
  nodeEnv: string;
  production: boolean;
  port: number;
  host: string;
  mongodbUri: string | undefined;
  dataDir: string;
  apiKeyPepper: string | undefined;
  shortDomain: string;
  keyCacheTtlMs: number;
  keyCacheMaxEntries: number;
  /** How often each instance reads the shared log of key changes (0: never; for a single instance). */
  keyChangePollMs: number;
  rateLimitPerMinute: number;
  /** Query-cost points per key (or anonymous address) per minute, unless a key has its own pointsPerMinute. */
  rateLimitPointsPerMinute: number;
  rateLimitStore: RateLimitStore;
  introspection: IntrospectionMode;
  logLevel: LogLevel;
  trustProxy: TrustProxy;
  corsOrigins: CorsOrigins;
  anonymousRateLimitPerMinute: number;
  authFailureLimitPerMinute: number;
  usageFlushMs: number;
  clickFlushMs: number;
  /** Clicks kept while the database cannot take them (memory and journal); past it new clicks are dropped. */
  clickBufferMaxEvents: number;
  dbTimeoutMs: number;
  /** Server-side deadline (maxTimeMS) of every read; a read past it answers TIMEOUT. */
  dbQueryTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** Serve Prometheus metrics on /metrics (METRICS=on). */
  metrics: boolean;
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  /** GitHub's secret-scanning signing keys (SECRET_SCANNING_PUBLIC_KEYS); null: the endpoint is off. */
  secretScanningKeys: SigningKeys | null;
  /** Audit events older than this many days are purged (AUDIT_RETENTION_DAYS). */
  auditRetentionDays: number;
}

type Env = Record<string, string | undefined>;

function bad(name: string, value: string, expected: string): never {
  throw new ConfigError(`${name}=${JSON.stringify(value)} is invalid: expected ${expected}.`);
}

function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) bad(name, raw, `a whole number from ${min} to ${max}`);
  const value = Number(raw.trim());
  if (value < min || value > max) bad(name, raw, `a whole number from ${min} to ${max}`);
  return value;
}

function readChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (!(choices as readonly string[]).includes(value)) bad(name, raw, `one of ${choices.join(', ')}`);
  return value as T;
}

function readTrustProxy(env: Env): TrustProxy {
  const raw = env.TRUST_PROXY;
  const value = raw?.trim().toLowerCase() ?? '';
  const expected = 'false, true (one proxy), a hop count such as 2, or a comma-separated list of proxy IPs/CIDRs (loopback, linklocal, uniquelocal allowed)';
  if (value === '' || value === 'false' || value === '0') return false;
  if (value === 'true') return { hops: 1 };
  if (/^\d+$/.test(value)) {
    if (Number(value) > 20) bad('TRUST_PROXY', raw!, expected);
    return { hops: Number(value) };
  }
  const proxies = value.split(',').map((entry) => entry.trim());
  for (const entry of proxies) {
    try {
      proxyAddr.compile(entry);
    } catch {
      bad('TRUST_PROXY', raw!, `${expected}; "${entry}" is not one`);
    }
  }
  return { proxies };
}

function readCorsOrigins(env: Env): CorsOrigins {
  const raw = env.CORS_ORIGINS;
  if (raw === undefined || raw.trim() === '' || raw.trim() === '*') return '*';
  const origins = raw.split(',').map((entry) => entry.trim());
  for (const origin of origins) {
    let valid = false;
    try {
      valid = new URL(origin).origin === origin && /^https?:/.test(origin);
    } catch {}
    if (!valid) bad('CORS_ORIGINS', raw, '* or a comma-separated list of origins such as https://app.example,http://localhost:5173 (scheme and host, no path)');
  }
  return origins;
}

/** The keys file is read once at start: never fetched at run time. */
function readSigningKeys(env: Env): SigningKeys | null {
  const file = env.SECRET_SCANNING_PUBLIC_KEYS?.trim();
  if (!file) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`SECRET_SCANNING_PUBLIC_KEYS=${JSON.stringify(file)} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}): point it at a copy of https://api.github.com/meta/public_keys/secret_scanning.`);
  }
  try {
    return parseSigningKeys(text);
  } catch (error) {
    throw new ConfigError(`SECRET_SCANNING_PUBLIC_KEYS=${JSON.stringify(file)} is invalid: ${(error as Error).message}.`);
  }
}

const HOST_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/i;

/** Parses and validates the environment once; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV?.trim() || 'development';
  const port = readInt(env, 'PORT', 4000, 0, 65535);

  const host = env.HOST?.trim() || '127.0.0.1';

  const mongodbUri = env.MONGODB_URI?.trim() || undefined;
  if (mongodbUri && !/^mongodb(\+srv)?:\/\/[^/]+/.test(mongodbUri)) {
    // Never echo the URI: it may carry a password.
    throw new ConfigError(
      'MONGODB_URI is invalid: expected a connection string starting with mongodb:// or mongodb+srv:// (value not shown, it may contain credentials).',
    );
  }

  const dataDir = path.resolve(env.DATA_DIR?.trim() || './data');

  const apiKeyPepper = env.API_KEY_PEPPER || undefined;
  if (apiKeyPepper !== undefined && apiKeyPepper.length < 32) {
    throw new ConfigError(
      'API_KEY_PEPPER is invalid: expected at least 32 characters of secret (value not shown); generate one with `openssl rand -base64 48`.',
    );
  }

  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && (metricsToken.length < 16 || /\s/.test(metricsToken))) {
    throw new ConfigError('METRICS_TOKEN is invalid: expected at least 16 characters without spaces (value not shown); generate one with `openssl rand -hex 24`.');
  }

  const shortDomain = (env.SHORT_DOMAIN?.trim() || `localhost:${port}`).toLowerCase();
  if (!HOST_RE.test(shortDomain)) bad('SHORT_DOMAIN', shortDomain, 'a host name such as "tpt.link" or "localhost:4000"');

  return {
    nodeEnv,
    production: nodeEnv === 'production',
    port,
    host,
    mongodbUri,
    dataDir,
    apiKeyPepper,
    shortDomain,
    keyCacheTtlMs: readInt(env, 'KEY_CACHE_TTL_MS', 5000, 0, 3_600_000),
    keyCacheMaxEntries: readInt(env, 'KEY_CACHE_MAX_ENTRIES', 10_000, 1, 10_000_000),
    keyChangePollMs: readInt(env, 'KEY_REVOCATION_POLL_MS', 400, 0, 60_000),
    rateLimitPerMinute: readInt(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    rateLimitPointsPerMinute: readInt(env, 'RATE_LIMIT_POINTS_PER_MINUTE', 10_000, 1, 100_000_000),
    rateLimitStore: readChoice(env, 'RATE_LIMIT_STORE', ['memory', 'mongo'] as const, 'memory'),
    introspection: readChoice(env, 'INTROSPECTION', ['public', 'key', 'off'] as const, 'public'),
    logLevel: readChoice(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    trustProxy: readTrustProxy(env),
    corsOrigins: readCorsOrigins(env),
    anonymousRateLimitPerMinute: readInt(env, 'ANONYMOUS_RATE_LIMIT_PER_MINUTE', 120, 1, 1_000_000),
    authFailureLimitPerMinute: readInt(env, 'AUTH_FAILURE_LIMIT_PER_MINUTE', 20, 1, 1_000_000),
    usageFlushMs: readInt(env, 'USAGE_FLUSH_MS', 2000, 10, 60_000),
    clickFlushMs: readInt(env, 'CLICK_FLUSH_MS', 1000, 10, 60_000),
    clickBufferMaxEvents: readInt(env, 'CLICK_BUFFER_MAX_EVENTS', 1_000_000, 1, 100_000_000),
    dbTimeoutMs: readInt(env, 'DB_TIMEOUT_MS', 5000, 100, 120_000),
    dbQueryTimeoutMs: readInt(env, 'DB_QUERY_TIMEOUT_MS', 10_000, 10, 600_000),
    shutdownTimeoutMs: readInt(env, 'SHUTDOWN_TIMEOUT_MS', 4000, 0, 120_000),
    metrics: readChoice(env, 'METRICS', ['on', 'off'] as const, 'off') === 'on',
    metricsToken,
    secretScanningKeys: readSigningKeys(env),
    auditRetentionDays: readInt(env, 'AUDIT_RETENTION_DAYS', 90, 1, 36_500),
  };
}
