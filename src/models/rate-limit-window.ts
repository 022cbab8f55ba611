import mongoose, { Schema } from 'mongoose';

/** Shared fixed-window counters for RATE_LIMIT_STORE=mongo; old windows are purged by the limiter. */
export interface RateLimitWindowDoc {
  _id: string;
  windowStart: Date;
  count: number;
}

const rateLimitWindowSchema = new Schema<RateLimitWindowDoc>({
  _id: { type: String, required: true },
  windowStart: { type: Date, required: true },
  count: { type: Number, default: 0 },
});
rateLimitWindowSchema.index({ windowStart: 1 });

export const RateLimitWindow = mongoose.model<RateLimitWindowDoc>('RateLimitWindow', rateLimitWindowSchema);
