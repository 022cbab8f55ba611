import mongoose, { Schema, Types } from 'mongoose';
import { SlotClaimer } from '../db/unique.ts';

/**
 * What instances cache across requests and must hear of when it changes on another instance: an
 * API key (deactivated, deleted, rotated, updated), or a workspace, project, custom domain or
 * user document. A "workspace" change also covers everything cached of that workspace.
 */
export type ChangeKind = 'key' | 'workspace' | 'project' | 'domain' | 'user';

export interface Change {
  kind: ChangeKind;
  /** The id of what changed (hex). */
  ref: string;
}

/**
 * The log of those changes: `_id` "change:<n>" numbered from 1 without gaps, each claimed by its
 * insert, plus one "head" document, a hint of the last number (it may lag, never lead). An
 * instance reads the next number by `_id` a few times a second and drops what it names from its
 * caches: O(1) work per poll.
 */
export interface ChangeDoc {
  _id: string;
  kind?: ChangeKind;
  ref?: Types.ObjectId;
  at?: Date;
  /** On "head" only. */
  n?: number;
}

const changeSchema = new Schema<ChangeDoc>(
  {
    _id: { type: String, required: true },
    kind: { type: String },
    ref: { type: Schema.Types.ObjectId },
    at: { type: Date },
    n: { type: Number },
  },
  { versionKey: false },
);

export const ChangeLog = mongoose.model<ChangeDoc>('ChangeLog', changeSchema, 'changes');

const changeId = (n: number) => `change:${n}`;
const slots = new SlotClaimer(ChangeLog);

/** The head hint: a change number that exists (0: none yet); the last one may be later. */
export async function changeHint(): Promise<number> {
  return (await ChangeLog.findById('head', { n: 1 }).lean<ChangeDoc>().exec())?.n ?? 0;
}

/** The last change number: from the head hint, then forward by `_id` to the first one missing. */
export async function lastChange(): Promise<number> {
  let n = await changeHint();
  while (await ChangeLog.exists({ _id: changeId(n + 1) })) n += 1;
  return n;
}

/** Tells every instance that `ref` changed; called after the change is written. */
export async function appendChange(kind: ChangeKind, ref: Types.ObjectId | string): Promise<void> {
  const fields = { kind, ref: new Types.ObjectId(String(ref)), at: new Date() };
  const n = await slots.claim('change', Number.POSITIVE_INFINITY, (await lastChange()) + 1, fields);
  // Only a hint: a lost or refused update (two first writers upserting at once) is fine.
  if (n !== null) await ChangeLog.updateOne({ _id: 'head' }, { $max: { n } }, { upsert: true }).catch(() => undefined);
}

/** Change `n`, or null when there is none yet. */
export async function readChange(n: number): Promise<Change | null> {
  const change = await ChangeLog.findById(changeId(n), { kind: 1, ref: 1 }).lean<ChangeDoc>().exec();
  return change ? { kind: change.kind ?? 'key', ref: String(change.ref) } : null;
}
