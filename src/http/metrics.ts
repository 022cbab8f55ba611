import { createHash, timingSafeEqual } from 'node:crypto';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../metrics.ts';
import type { Services } from '../services.ts';

export const METRICS_PATH = '/metrics';

function plain(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers } });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Compared as SHA-256 digests (same length whatever was sent), in constant time: timing tells nothing of the token. */
function tokenMatches(authorization: string | null, token: string): boolean {
  const presented = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1] ?? '';
  return timingSafeEqual(sha256(presented), sha256(token));
}

/** GET /metrics: the Prometheus text of this instance; 404 unless METRICS=on, 401 without METRICS_TOKEN when one is set. */
export async function serveMetrics(request: Request, services: Services): Promise<Response> {
  const { metrics, config } = services;
  if (!metrics) return plain(404, 'Metrics are off: start the server with METRICS=on to serve them here.');
  if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'Method not allowed: GET /metrics.', { Allow: 'GET, HEAD' });
  if (config.metricsToken !== undefined && !tokenMatches(request.headers.get('authorization'), config.metricsToken)) {
    return plain(401, 'Missing or wrong metrics token: send "Authorization: Bearer <METRICS_TOKEN>".', { 'WWW-Authenticate': 'Bearer realm="taapit-metrics"' });
  }
  const { text, contentType } = await metrics.render();
  return new Response(request.method === 'HEAD' ? null : text, { headers: { 'Content-Type': contentType, 'Cache-Control': 'no-store' } });
}

/**
 * Yoga's Prometheus plugin on this instance's registry. Operation names, URLs and error paths are
 * chosen by clients (unbounded, and may carry anything): those labels are off, so the GraphQL
 * series are labelled by operation type, phase, method and status only. /metrics is served by the
 * app (with its token check), never by the plugin.
 */
export function graphqlMetrics(metrics: Metrics): Plugin {
  return usePrometheus({
    registry: metrics.registry,
    endpoint: false,
    labels: { operationName: false, path: false, url: false },
    metrics: {
      graphql_envelop_request: true,
      graphql_envelop_request_duration: true,
      graphql_envelop_phase_parse: true,
      graphql_envelop_phase_validate: true,
      graphql_envelop_phase_execute: true,
      graphql_envelop_error_result: true,
      graphql_yoga_http_duration: true,
      // Off: a summary repeats the duration histogram at a higher cost; no subscriptions; the
      // schema never changes; the deprecated-field count walks every document for a schema without any.
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_deprecated_field: false,
    },
  });
}
