import mongoose, { Schema, type Types } from 'mongoose';

/**
 * How often one key used each of its permissions on one UTC day: `_id` = `<keyId>:<YYYY-MM-DD>`,
 * so a flush is one upsert per key and day and a window of N days is N reads by primary key.
 * `uses` and `last` are keyed by permission name (`links:read`).
 */
export interface PermissionUsageDayDoc {
  _id: string;
  keyId: Types.ObjectId;
  day: string;
  uses: Record<string, number>;
  last: Record<string, Date>;
}

const permissionUsageDaySchema = new Schema<PermissionUsageDayDoc>(
  {
    _id: { type: String, required: true },
    keyId: { type: Schema.Types.ObjectId, required: true },
    day: { type: String, required: true },
    uses: { type: Schema.Types.Mixed, default: {} },
    last: { type: Schema.Types.Mixed, default: {} },
  },
  { versionKey: false, minimize: false },
);

export const PermissionUsageDay = mongoose.model<PermissionUsageDayDoc>('PermissionUsageDay', permissionUsageDaySchema, 'permissionusagedays');

export function permissionUsageDayId(keyId: Types.ObjectId | string, day: string): string {
  return `${String(keyId)}:${day}`;
}

/** The UTC day of `at`, `YYYY-MM-DD`. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}
