import path from 'node:path';
import type { Logger } from 'pino';
import { KeyAuthenticator } from './auth/authenticate.ts';
import { MemoryRateLimiter, MongoRateLimiter, type RateLimiter } from './auth/rate-limit.ts';
import { MemoryPointsBudget, MongoPointsBudget, type PointsBudget } from './auth/points.ts';
import { UsageRecorder } from './auth/usage.ts';
import type { Config } from './config.ts';
import type { Database } from './db/connection.ts';
import { ClickRecorder } from './redirect/clicks.ts';
import { LinkCache } from './redirect/link-cache.ts';
import { Metrics } from './metrics.ts';
import { systemTxtResolver, type TxtResolver } from './core/dns.ts';
import { DocumentCache } from './core/document-cache.ts';
import { IdleKeyJob } from './core/idle-keys.ts';
import { AuditRecorder } from './core/audit.ts';

/** Workspaces, projects, custom domains and users cached across requests (each entry lives KEY_CACHE_TTL_MS at most). */
const DOCUMENT_CACHE_MAX_ENTRIES = 10_000;

/** Long-lived collaborators shared by every request of one server instance. */
export interface Services {
  config: Config;
  logger: Logger;
  db: Database;
  pepper: string;
  authenticator: KeyAuthenticator;
  usage: UsageRecorder;
  /** Audit events of the read path (and retries), written in batches; also purges expired events. */
  audit: AuditRecorder;
  rateLimiter: RateLimiter;
  /** Query-cost budgets (points per minute), in the same store as the request limit. */
  points: PointsBudget;
  clicks: ClickRecorder;
  /** Deactivates keys idle past their idleTimeoutDays, every few minutes. */
  idleKeys: IdleKeyJob;
  linkCache: LinkCache;
  /** Read by GraphQL queries; dropped by changes made here and, through the change log, elsewhere. */
  documents: DocumentCache;
  txtResolver: TxtResolver;
  /** Prometheus metrics of this instance; null unless METRICS=on. */
  metrics: Metrics | null;
}

export function createServices(
  config: Config,
  logger: Logger,
  db: Database,
  pepper: string,
  overrides: Partial<Pick<Services, 'txtResolver' | 'rateLimiter' | 'points'>> = {},
): Services {
  const clicks = new ClickRecorder(config.clickFlushMs, logger, config.clickBufferMaxEvents);
  const documents = new DocumentCache(DOCUMENT_CACHE_MAX_ENTRIES, config.keyCacheTtlMs);
  const services: Services = {
    config,
    logger,
    db,
    pepper,
    authenticator: new KeyAuthenticator({
      pepper,
      cacheTtlMs: config.keyCacheTtlMs,
      maxEntries: config.keyCacheMaxEntries,
      changePollMs: config.keyChangePollMs,
      onChange: (change) => documents.forget(change.kind, change.ref),
    }),
    usage: new UsageRecorder(config.usageFlushMs, logger),
    audit: new AuditRecorder(config.clickFlushMs, logger, config.auditRetentionDays),
    rateLimiter: overrides.rateLimiter ?? (config.rateLimitStore === 'mongo' ? new MongoRateLimiter() : new MemoryRateLimiter()),
    points: overrides.points ?? (config.rateLimitStore === 'mongo' ? new MongoPointsBudget() : new MemoryPointsBudget()),
    clicks,
    idleKeys: undefined as never,
    linkCache: new LinkCache(config.keyCacheTtlMs),
    documents,
    txtResolver: overrides.txtResolver ?? systemTxtResolver,
    metrics: config.metrics ? new Metrics({ clicks, db }) : null,
  };
  services.idleKeys = new IdleKeyJob(services);
  return services;
}

/**
 * Journals every click under DATA_DIR/journal from now on and stores the clicks a previous process
 * left there. Only a server does this: the CLI records no click and must not take a running server's journal.
 */
export function openClickJournal(services: Services): Promise<void> {
  return services.clicks.openJournal(path.join(services.config.dataDir, 'journal'));
}

/** Starts background flushers. */
export function startServices(services: Services): void {
  services.usage.start();
  services.audit.start();
  services.clicks.start();
  services.idleKeys.start();
}

/** Flushes batched writes; call before closing the database. False when some could not be written. */
export async function stopServices(services: Services): Promise<boolean> {
  await services.idleKeys.stop();
  return (await Promise.all([services.usage.stop(), services.clicks.stop(), services.audit.stop()])).every(Boolean);
}
