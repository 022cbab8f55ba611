import { revokeLeakedTokens } from '../core/secret-scanning.ts';
import { MAX_MATCHES, parseMatches, verifySignature } from '../rules/secret-scanning.ts';
import type { Services } from '../services.ts';
import { addressId } from './auth-plugin.ts';

/** A report of MAX_MATCHES tokens is about 200 kB; nothing GitHub sends comes near this. */
export const MAX_REPORT_BYTES = 1_000_000;

function problem(status: number, code: string, message: string): Response {
  return Response.json({ errors: [{ message, extensions: { code } }] }, { status });
}

/**
 * POST /secret-scanning/github: GitHub's secret-scanning partner endpoint. Limited per address
 * like every anonymous request, before the signature is checked; a report must be signed by one
 * of the keys in SECRET_SCANNING_PUBLIC_KEYS. `readBody` reads at most MAX_REPORT_BYTES (null past it).
 */
export async function serveSecretScanning(
  request: Request,
  services: Services,
  clientIp: string | null,
  readBody: () => Promise<Uint8Array | null>,
): Promise<Response> {
  const keys = services.config.secretScanningKeys;
  if (!keys) {
    return problem(404, 'NOT_FOUND', 'Secret scanning is not configured on this server: set SECRET_SCANNING_PUBLIC_KEYS to a file of GitHub\'s signing keys.');
  }
  if (request.method !== 'POST') {
    const response = problem(405, 'METHOD_NOT_ALLOWED', 'Send the report with POST.');
    response.headers.set('Allow', 'POST');
    return response;
  }
  const limit = services.config.anonymousRateLimitPerMinute;
  const decision = await services.rateLimiter.hit(`secret-scanning:${addressId(services, clientIp)}`, limit);
  if (!decision.allowed) {
    const response = problem(429, 'RATE_LIMITED', `Rate limit of ${limit} reports per minute exceeded for this address: retry after ${decision.resetSeconds} s.`);
    response.headers.set('Retry-After', String(decision.resetSeconds));
    return response;
  }
  const body = await readBody();
  if (body === null) return problem(413, 'PAYLOAD_TOO_LARGE', `Report over ${MAX_REPORT_BYTES} bytes: send at most ${MAX_MATCHES} matches per report.`);
  const signed = verifySignature(
    keys,
    request.headers.get('github-public-key-identifier'),
    request.headers.get('github-public-key-signature'),
    body,
  );
  if (!signed) {
    return problem(
      401,
      'UNAUTHENTICATED',
      'The report is not signed by a known GitHub key: send Github-Public-Key-Identifier and Github-Public-Key-Signature (base64 ECDSA P-256 over the raw body).',
    );
  }
  const matches = parseMatches(body);
  if (typeof matches === 'string') return problem(400, 'BAD_REQUEST', matches);
  return Response.json(await revokeLeakedTokens(services, matches));
}
