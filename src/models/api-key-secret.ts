import mongoose, { Schema, type Types } from 'mongoose';

/**
 * The lookup of a key by its secret: `_id` is HMAC-SHA256(pepper, secret), so verifying a key
 * is one primary-key read here and one (`findById`) of the ApiKey. It only points at a key: the
 * ApiKey record decides (its secretHash / previousSecretHash, status, expiry, IPs), so a stale or
 * orphaned secret document never lets anything in.
 */
export interface ApiKeySecretDoc {
  _id: string;
  keyId: Types.ObjectId;
  /** Which of the key's secrets this was when written (the key's hashes say which it is now). */
  kind: 'current' | 'previous';
  createdAt: Date;
}

const apiKeySecretSchema = new Schema<ApiKeySecretDoc>(
  {
    _id: { type: String, required: true },
    keyId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: ['current', 'previous'], required: true },
    createdAt: { type: Date, default: () => new Date() },
  },
  { versionKey: false },
);

export const ApiKeySecret = mongoose.model<ApiKeySecretDoc>('ApiKeySecret', apiKeySecretSchema);
