import mongoose, { Schema, Types } from 'mongoose';

/** A before/after pair of one changed field; absent sides are omitted (a creation has no before). */
export interface FieldChange {
  before?: unknown;
  after?: unknown;
}

/**
 * One recorded action, never changed once written (the API has no way to). `_id` is an ObjectId
 * made when the event happens, so ids sort by time: the retention purge is one range delete on
 * `_id`, the primary key on every backend.
 */
export interface AuditEventDoc {
  _id: Types.ObjectId;
  /** Dotted: `link.created`, `apiKey.rotated`, `apiKey.firstUseFromNewIp`. */
  action: string;
  actorUserId: Types.ObjectId | null;
  actorKeyId: Types.ObjectId | null;
  targetType: string;
  /** The target's id as stored (hex ObjectId, or a string id). */
  targetId: string;
  /** The workspace the event belongs to; null for events of a user's own keys. */
  workspaceId: Types.ObjectId | null;
  /** For key events: the user who owns the key, who may read them. */
  subjectUserId: Types.ObjectId | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  createdAt: Date;
  changes: Record<string, FieldChange> | null;
}

const auditEventSchema = new Schema<AuditEventDoc>(
  {
    action: { type: String, required: true },
    actorUserId: { type: Schema.Types.ObjectId, default: null },
    actorKeyId: { type: Schema.Types.ObjectId, default: null },
    targetType: { type: String, required: true },
    targetId: { type: String, required: true },
    workspaceId: { type: Schema.Types.ObjectId, default: null },
    subjectUserId: { type: Schema.Types.ObjectId, default: null },
    ip: { type: String, default: null },
    userAgent: { type: String, default: null },
    requestId: { type: String, default: null },
    createdAt: { type: Date, required: true },
    changes: { type: Schema.Types.Mixed, default: null },
  },
  { versionKey: false, minimize: false },
);

// The two lists: a workspace's events and a user's own key events, newest first.
auditEventSchema.index({ workspaceId: 1, createdAt: -1, _id: -1 });
auditEventSchema.index({ subjectUserId: 1, createdAt: -1, _id: -1 });

export const AuditEvent = mongoose.model<AuditEventDoc>('AuditEvent', auditEventSchema, 'auditevents');

/**
 * Which (key, address) pairs have been seen: `_id` "<key id>/<address>". Inserted when a key is
 * first used from an address, which is what `apiKey.firstUseFromNewIp` reports.
 */
export interface KnownKeyAddressDoc {
  _id: string;
  at: Date;
}

export const KnownKeyAddress = mongoose.model<KnownKeyAddressDoc>(
  'KnownKeyAddress',
  new Schema<KnownKeyAddressDoc>({ _id: { type: String, required: true }, at: { type: Date, required: true } }, { versionKey: false }),
  'knownkeyaddresses',
);
