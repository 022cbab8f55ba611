import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/**
 * What authentication decided for one GraphQL request. `missing`: no key where one is needed (or
 * GraphiQL's placeholder); `anonymous`: introspection without a key; `revoked`: deactivated or
 * rotated out; `rate_limited`: any 429 (per key, per address, failed-attempt throttle).
 */
export const AUTH_OUTCOMES = ['valid', 'anonymous', 'missing', 'invalid', 'revoked', 'expired', 'ip_refused', 'rate_limited'] as const;
export type AuthOutcomeLabel = (typeof AUTH_OUTCOMES)[number];

/** The answers of the short-link path that are counted; other statuses (405, the root page) are not. */
export const REDIRECT_STATUSES = [302, 404, 410, 503] as const;

/** What the metrics read from the click recorder when scraped (plain counts it keeps itself). */
export interface ClickCountsSource {
  readonly counts: { readonly recorded: number; readonly journaled: number; readonly flushed: number; readonly dropped: number; readonly flushFailures: number };
  /** Clicks recorded and not yet written to the database (in memory and in the journal). */
  readonly buffered: number;
}

/** What the metrics read from the database when scraped. */
export interface DatabaseSource {
  ping(timeoutMs?: number): Promise<boolean>;
  embedded?: { readonly restarts: number };
}

/**
 * The Prometheus metrics of one app instance, in a registry of its own (never prom-client's
 * global one: tests run several apps in one process). Hot paths only bump plain numbers, with no
 * allocation and no label hashing; prom-client reads them when /metrics is scraped. Labels are
 * fixed, small sets: never a key, slug, e-mail, destination or anything else a client chooses.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly authCounts: Record<AuthOutcomeLabel, number> = Object.fromEntries(AUTH_OUTCOMES.map((o) => [o, 0])) as Record<AuthOutcomeLabel, number>;
  /** Answers of the full path, in the order of REDIRECT_STATUSES (an array: status-keyed objects are slow dictionaries). */
  private readonly redirectCounts = [0, 0, 0, 0];
  /** 302s of the fast path (it answers nothing else). */
  private fastRedirects = 0;

  constructor(sources: { clicks: ClickCountsSource; db: DatabaseSource }) {
    const { registry } = this;
    collectDefaultMetrics({ register: registry });
    const authCounts = this.authCounts;
    new Counter({
      name: 'taapit_auth_requests_total',
      help: 'GraphQL requests by authentication outcome.',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const outcome of AUTH_OUTCOMES) this.inc({ outcome }, authCounts[outcome]);
      },
    });
    const redirectCounts = this.redirectCounts;
    const fastRedirects = () => this.fastRedirects;
    new Counter({
      name: 'taapit_redirects_total',
      help: 'Short-link answers by HTTP status; cached="yes" when answered on the fast path from the link cache.',
      labelNames: ['status', 'cached'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ status: '302', cached: 'yes' }, fastRedirects());
        REDIRECT_STATUSES.forEach((status, i) => this.inc({ status: String(status), cached: 'no' }, redirectCounts[i]!));
      },
    });
    const { clicks, db } = sources;
    const clickCounters: [name: string, help: string, read: () => number][] = [
      ['taapit_clicks_recorded_total', 'Clicks (and bot clicks) taken into the buffer.', () => clicks.counts.recorded],
      ['taapit_clicks_journaled_total', 'Clicks appended to the click journal before their redirect was answered.', () => clicks.counts.journaled],
      ['taapit_clicks_flushed_total', 'Clicks written to the database (journal replays included).', () => clicks.counts.flushed],
      ['taapit_clicks_dropped_total', 'Clicks dropped because the buffer was full (CLICK_BUFFER_MAX_EVENTS).', () => clicks.counts.dropped],
      ['taapit_click_flush_failures_total', 'Click flushes that failed (kept and retried).', () => clicks.counts.flushFailures],
    ];
    for (const [name, help, read] of clickCounters) {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    }
    new Gauge({
      name: 'taapit_clicks_buffered',
      help: 'Clicks recorded and not yet written to the database (in memory and in the journal).',
      registers: [registry],
      collect() {
        this.set(clicks.buffered);
      },
    });
    new Gauge({
      name: 'taapit_db_up',
      help: '1 when the database answered a ping within 1 s at scrape time, else 0.',
      registers: [registry],
      async collect() {
        this.set((await db.ping(1000)) ? 1 : 0);
      },
    });
    if (db.embedded) {
      const embedded = db.embedded;
      new Counter({
        name: 'taapit_ferretdb_restarts_total',
        help: 'Times the embedded FerretDB exited on its own and was restarted by this server.',
        registers: [registry],
        collect() {
          this.reset();
          this.inc(embedded.restarts);
        },
      });
    }
  }

  auth(outcome: AuthOutcomeLabel): void {
    this.authCounts[outcome] += 1;
  }

  /** One short-link answer; `fastPath`: answered from the link cache before the Fetch adapter. */
  redirect(status: number, fastPath: boolean): void {
    if (fastPath) this.fastRedirects += 1;
    else {
      const i = status === 302 ? 0 : status === 404 ? 1 : status === 410 ? 2 : status === 503 ? 3 : -1;
      if (i >= 0) this.redirectCounts[i]! += 1;
    }
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
