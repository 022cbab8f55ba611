import type { Logger } from 'pino';
import type { KeyAuthenticator } from '../auth/authenticate.ts';
import { ApiKeySecret, type ApiKeySecretDoc } from '../models/api-key-secret.ts';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { appendChange } from '../models/change-log.ts';
import { hashApiKey, isWellFormedApiKey } from '../rules/keys.ts';
import { tokenHash, type TokenMatch } from '../rules/secret-scanning.ts';
import { auditSystem, type AuditRecorder, type FieldChange } from './audit.ts';

/** GitHub's verdict per token: ours (and now unusable), or not one of our keys. */
export interface LeakFeedback {
  token_hash: string;
  token_type: string;
  label: 'true_positive' | 'false_positive';
}

interface LeakServices {
  pepper: string;
  logger: Logger;
  authenticator: KeyAuthenticator;
  audit: AuditRecorder;
}

/**
 * Makes every reported token that is one of our keys unusable at once: a key's current secret
 * deactivates the key (reason LEAKED); a previous secret still in its rotation grace period ends
 * that grace, so the new secret the user rotated to keeps working. Malformed tokens cost no query.
 * Idempotent: a report sent twice finds the key already deactivated and says true_positive again.
 */
export async function revokeLeakedTokens(services: LeakServices, matches: readonly TokenMatch[]): Promise<LeakFeedback[]> {
  const verdicts = new Map<string, boolean>();
  for (const { token } of matches) {
    if (!verdicts.has(token)) verdicts.set(token, isWellFormedApiKey(token) && (await revokeToken(services, token)));
  }
  return matches.map(({ token, type }) => ({
    token_hash: tokenHash(token),
    token_type: type,
    label: verdicts.get(token) ? 'true_positive' : 'false_positive',
  }));
}

/** Whether `token` is a secret of one of our keys (current or previous); revokes it if it still works. */
async function revokeToken(services: LeakServices, token: string): Promise<boolean> {
  const hash = hashApiKey(token, services.pepper);
  const secret = await ApiKeySecret.findById(hash, { keyId: 1 }).lean<Pick<ApiKeySecretDoc, 'keyId'>>().exec();
  const key = secret ? await ApiKey.findById(secret.keyId).lean<ApiKeyDoc>().exec() : null;
  if (!key || (key.secretHash !== hash && key.previousSecretHash !== hash)) return false;
  const now = new Date();
  let revoked: ApiKeyDoc | null = null;
  if (key.secretHash === hash) {
    // Conditional on the secret too: a rotation that raced us replaced the leaked secret already.
    revoked = await ApiKey.findOneAndUpdate(
      { _id: key._id, status: 'ACTIVE', secretHash: hash },
      { $set: { status: 'DEACTIVATED', deactivatedAt: now, deactivationReason: 'LEAKED' } },
      { returnDocument: 'after' },
    )
      .lean<ApiKeyDoc>()
      .exec();
  } else if (key.previousSecretExpiresAt && key.previousSecretExpiresAt > now) {
    revoked = await ApiKey.findOneAndUpdate(
      { _id: key._id, previousSecretHash: hash },
      { $set: { previousSecretExpiresAt: now } },
      { returnDocument: 'after' },
    )
      .lean<ApiKeyDoc>()
      .exec();
  }
  if (revoked) {
    services.authenticator.invalidate(key._id);
    await appendChange('key', key._id);
    const changes: Record<string, FieldChange> =
      key.secretHash === hash
        ? { status: { before: key.status, after: revoked.status }, deactivationReason: { after: 'LEAKED' } }
        : { previousGraceEndsAt: { before: key.previousSecretExpiresAt?.toISOString() ?? null, after: now.toISOString() } };
    await auditSystem(services, { action: 'apiKey.leaked', target: { type: 'ApiKey', id: key._id }, subjectUserId: key.userId, changes });
    services.logger.warn(
      { keyId: String(key._id), hint: key.hint, secret: key.secretHash === hash ? 'current' : 'previous' },
      key.secretHash === hash ? 'leaked API key deactivated' : "leaked previous secret's grace period ended",
    );
  }
  return true;
}
