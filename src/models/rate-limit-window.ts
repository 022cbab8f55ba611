import mongoose, { Schema } from 'mongoose';

/**
 * Shared fixed-window counting for RATE_LIMIT_STORE=mongo: one document per request allowed,
 * `_id` "<key>:<window start>:<n>" (n from 1 to the limit), so a window's count is exact across
 * instances. Old windows are purged by the limiter.
 */
export interface RateLimitWindowDoc {
  _id: string;
  windowStart: Date;
}

const rateLimitWindowSchema = new Schema<RateLimitWindowDoc>(
  {
    _id: { type: String, required: true },
    windowStart: { type: Date, required: true },
  },
  { versionKey: false },
);
rateLimitWindowSchema.index({ windowStart: 1 });

export const RateLimitWindow = mongoose.model<RateLimitWindowDoc>('RateLimitWindow', rateLimitWindowSchema);
