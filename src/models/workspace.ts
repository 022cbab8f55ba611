import mongoose, { Schema, type Types } from 'mongoose';
import type { KeyPolicy } from '../rules/key-policy.ts';
import { ROLES, type Role } from '../rules/permissions.ts';
import { indexRole } from './user-roles.ts';

export interface WorkspaceDoc {
  _id: Types.ObjectId;
  name: string;
  createdByUserId: Types.ObjectId;
  /** What keys used inside it must satisfy; absent on workspaces that never set one. */
  keyPolicy?: KeyPolicy | null;
  createdAt: Date;
  updatedAt: Date;
}

const workspaceSchema = new Schema<WorkspaceDoc>(
  {
    name: { type: String, required: true },
    createdByUserId: { type: Schema.Types.ObjectId, required: true },
    keyPolicy: {
      type: new Schema<KeyPolicy>(
        {
          maxLifetimeDays: { type: Number, default: null },
          requireExpiry: { type: Boolean, default: false },
          requireIpAllowlist: { type: Boolean, default: false },
        },
        { _id: false },
      ),
      default: null,
    },
  },
  { timestamps: true },
);

export const Workspace = mongoose.model<WorkspaceDoc>('Workspace', workspaceSchema);

export interface MembershipDoc {
  _id: Types.ObjectId;
  workspaceId: Types.ObjectId;
  userId: Types.ObjectId;
  role: Role;
  createdAt: Date;
  updatedAt: Date;
}

const membershipSchema = new Schema<MembershipDoc>(
  {
    workspaceId: { type: Schema.Types.ObjectId, required: true },
    userId: { type: Schema.Types.ObjectId, required: true },
    role: { type: String, enum: ROLES, required: true },
  },
  { timestamps: true },
);
membershipSchema.index({ workspaceId: 1, userId: 1 }, { unique: true });
membershipSchema.index({ userId: 1 });
// Every membership created (by a use case, the seed, the CLI or a test) is indexed in its user's
// roles document, after it is written: a crash in between grants less, never more.
membershipSchema.post('save', async function (doc) {
  await indexRole(doc.userId, doc.workspaceId, doc.role);
});

export const Membership = mongoose.model<MembershipDoc>('Membership', membershipSchema);
