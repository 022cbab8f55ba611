import mongoose, { Schema, type Types } from 'mongoose';

/** 'bot' counts requests from crawlers, preview fetchers and scripts (value 'all'); the others count clicks. */
export const CLICK_DIMENSIONS = ['total', 'referrer', 'device', 'browser', 'bot'] as const;
export type ClickDimension = (typeof CLICK_DIMENSIONS)[number];

/**
 * One counter per link, UTC day, dimension and value. Referrer hosts are values, never keys
 * (they are open-ended), so every counter is a whole document bumped with an upserting $inc. The _id is
 * derived from those four, so each upsert is a primary-key lookup (FerretDB v1 only uses _id).
 */
export interface ClickBucketDoc {
  _id: string;
  workspaceId: Types.ObjectId;
  linkId: Types.ObjectId;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  dimension: ClickDimension;
  value: string;
  clicks: number;
}

const clickBucketSchema = new Schema<ClickBucketDoc>({
  _id: { type: String, required: true },
  workspaceId: { type: Schema.Types.ObjectId, required: true },
  linkId: { type: Schema.Types.ObjectId, required: true },
  day: { type: String, required: true },
  dimension: { type: String, enum: CLICK_DIMENSIONS, required: true },
  value: { type: String, required: true },
  clicks: { type: Number, default: 0 },
});
clickBucketSchema.index({ linkId: 1, day: 1 });
clickBucketSchema.index({ workspaceId: 1, day: 1 });

export const ClickBucket = mongoose.model<ClickBucketDoc>('ClickBucket', clickBucketSchema);

export function clickBucketId(linkId: Types.ObjectId | string, day: string, dimension: ClickDimension, value: string): string {
  return `${linkId}:${day}:${dimension}:${value}`;
}
