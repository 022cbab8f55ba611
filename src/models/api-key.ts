import mongoose, { Schema, type Types } from 'mongoose';
import { DEACTIVATION_REASONS, KEY_STATUSES, type DeactivationReason, type KeyStatus } from '../rules/keys.ts';
import { ACCESS_LEVELS, PERMISSIONS, RESOURCES, type Permission, type Scope } from '../rules/permissions.ts';

export interface ApiKeyDoc {
  _id: Types.ObjectId;
  userId: Types.ObjectId;
  name: string;
  /**
   * HMAC-SHA256(pepper, key): the only trace of the secret at rest. Found through ApiKeySecret
   * (whose _id is this hash); compared here, so the key record decides which secret is current.
   */
  secretHash: string;
  hint: string;
  /** The secret replaced by the last rotation, still accepted until previousSecretExpiresAt. */
  previousSecretHash?: string | null;
  previousSecretExpiresAt?: Date | null;
  permission: Permission;
  scopes: Scope[];
  workspaces: Types.ObjectId[];
  expiresAt?: Date | null;
  allowedIps: string[];
  rateLimit?: number | null;
  /** Query-cost points per minute; null (or missing, on keys made before): the server default. */
  pointsPerMinute?: number | null;
  /** Host patterns links made with the key may point to (missing on keys made before: any). */
  allowedDestinations?: string[];
  /** Host patterns of the short-link domains the key may put links on; PLATFORM_DOMAIN for the platform's. */
  allowedDomains?: string[];
  /** Days unused after which the key is refused and then deactivated (IDLE); null: never. */
  idleTimeoutDays?: number | null;
  /** Runs registered trusted documents only (missing on keys made before: false). */
  trustedDocumentsOnly?: boolean;
  status: KeyStatus;
  deactivatedAt?: Date | null;
  /** Set with `deactivatedAt`; null on keys deactivated before reasons were recorded (by hand). */
  deactivationReason?: DeactivationReason | null;
  lastUsedAt?: Date | null;
  lastUsedIp?: string | null;
  usageCount: number;
  /** The key that created this one; null when made by the CLI or the first-start bootstrap. */
  createdByKeyId?: Types.ObjectId | null;
  createdVia: 'API' | 'CLI' | 'BOOTSTRAP';
  createdAt: Date;
  updatedAt: Date;
}

const apiKeySchema = new Schema<ApiKeyDoc>(
  {
    userId: { type: Schema.Types.ObjectId, required: true },
    name: { type: String, required: true },
    secretHash: { type: String, required: true },
    hint: { type: String, required: true },
    previousSecretHash: { type: String, default: null },
    previousSecretExpiresAt: { type: Date, default: null },
    permission: { type: String, enum: PERMISSIONS, required: true },
    scopes: [
      {
        _id: false,
        resource: { type: String, enum: RESOURCES, required: true },
        access: { type: String, enum: ACCESS_LEVELS, required: true },
      },
    ],
    workspaces: [{ type: Schema.Types.ObjectId }],
    expiresAt: { type: Date, default: null },
    allowedIps: [{ type: String }],
    rateLimit: { type: Number, default: null },
    pointsPerMinute: { type: Number, default: null },
    allowedDestinations: [{ type: String }],
    allowedDomains: [{ type: String }],
    idleTimeoutDays: { type: Number, default: null },
    trustedDocumentsOnly: { type: Boolean, default: false },
    status: { type: String, enum: KEY_STATUSES, default: 'ACTIVE' },
    deactivatedAt: { type: Date, default: null },
    deactivationReason: { type: String, enum: DEACTIVATION_REASONS, default: null },
    lastUsedAt: { type: Date, default: null },
    lastUsedIp: { type: String, default: null },
    usageCount: { type: Number, default: 0 },
    createdByKeyId: { type: Schema.Types.ObjectId, default: null },
    createdVia: { type: String, enum: ['API', 'CLI', 'BOOTSTRAP'], required: true },
  },
  { timestamps: true },
);
// Keys are found by secret through ApiKeySecret (a primary-key read), never by these hashes.
apiKeySchema.index({ userId: 1, createdAt: -1, _id: -1 });

export const ApiKey = mongoose.model<ApiKeyDoc>('ApiKey', apiKeySchema);
