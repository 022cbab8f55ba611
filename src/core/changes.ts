import type { Types } from 'mongoose';
import { appendChange, type ChangeKind } from '../models/change-log.ts';
import type { Actor } from './actor.ts';

/**
 * After a write to something instances cache across requests (a key, a workspace, project,
 * custom domain or user): dropped from this instance's caches at once, and from every other
 * instance's when it next reads the change log (within about twice KEY_REVOCATION_POLL_MS).
 */
export async function announceChange(actor: Actor, kind: ChangeKind, ref: Types.ObjectId | string): Promise<void> {
  if (kind === 'key') actor.services.authenticator.invalidate(ref);
  else actor.services.documents.forget(kind, String(ref));
  await appendChange(kind, ref);
}
