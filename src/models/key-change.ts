import mongoose, { Schema, Types } from 'mongoose';
import { SlotClaimer } from '../db/unique.ts';

/**
 * A log of key changes every instance must hear of (deactivated, deleted, rotated, updated):
 * `_id` "key:<n>" numbered from 1 without gaps, each claimed by its insert, plus one "head"
 * document, a hint of the last number (it may lag, never lead). An instance reads the next
 * number by `_id` about once a second and drops that key from its cache: O(1) work per second.
 */
export interface KeyChangeDoc {
  _id: string;
  keyId?: Types.ObjectId;
  at?: Date;
  /** On "head" only. */
  n?: number;
}

const keyChangeSchema = new Schema<KeyChangeDoc>(
  {
    _id: { type: String, required: true },
    keyId: { type: Schema.Types.ObjectId },
    at: { type: Date },
    n: { type: Number },
  },
  { versionKey: false },
);

export const KeyChange = mongoose.model<KeyChangeDoc>('KeyChange', keyChangeSchema);

const changeId = (n: number) => `key:${n}`;
const slots = new SlotClaimer(KeyChange);

/** The head hint: a change number that exists (0: none yet); the last one may be later. */
export async function keyChangeHint(): Promise<number> {
  return (await KeyChange.findById('head', { n: 1 }).lean<KeyChangeDoc>().exec())?.n ?? 0;
}

/** The last change number: from the head hint, then forward by `_id` to the first one missing. */
export async function lastKeyChange(): Promise<number> {
  let n = await keyChangeHint();
  while (await KeyChange.exists({ _id: changeId(n + 1) })) n += 1;
  return n;
}

/** Tells every instance that `keyId` changed; called after the change is written. */
export async function announceKeyChange(keyId: Types.ObjectId | string): Promise<void> {
  const n = await slots.claim('key', Number.POSITIVE_INFINITY, (await lastKeyChange()) + 1, { keyId: new Types.ObjectId(String(keyId)), at: new Date() });
  // Only a hint: a lost or refused update (two first writers upserting at once) is fine.
  if (n !== null) await KeyChange.updateOne({ _id: 'head' }, { $max: { n } }, { upsert: true }).catch(() => undefined);
}

/** The key of change `n`, or null when there is none yet. */
export async function keyChange(n: number): Promise<string | null> {
  const change = await KeyChange.findById(changeId(n), { keyId: 1 }).lean<KeyChangeDoc>().exec();
  return change ? String(change.keyId) : null;
}
