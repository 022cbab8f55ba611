import { createHash } from 'node:crypto';
import mongoose, { Schema, Types } from 'mongoose';
import { ROLES, type Role } from '../rules/permissions.ts';

/** What is stored; EXPIRED is computed from expiresAt (no TTL index, see the README). */
export const STORED_INVITATION_STATUSES = ['PENDING', 'ACCEPTED', 'REVOKED'] as const;
export const INVITATION_STATUSES = [...STORED_INVITATION_STATUSES, 'EXPIRED'] as const;
export type InvitationStatus = (typeof INVITATION_STATUSES)[number];

export const INVITATION_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * One record per workspace and e-mail address, re-opened by each new invitation. Its _id is
 * derived from both, so inviting is a primary-key upsert (no unique index on other fields,
 * which the embedded FerretDB could not use) and the id does not spell out the address.
 */
export interface InvitationDoc {
  _id: Types.ObjectId;
  workspaceId: Types.ObjectId;
  /** Lowercased, as users' e-mail addresses are. */
  email: string;
  role: Role;
  status: (typeof STORED_INVITATION_STATUSES)[number];
  invitedByUserId: Types.ObjectId;
  /** When this (re-)invitation was sent. */
  createdAt: Date;
  expiresAt: Date;
  acceptedByUserId?: Types.ObjectId | null;
  updatedAt: Date;
}

const invitationSchema = new Schema<InvitationDoc>(
  {
    workspaceId: { type: Schema.Types.ObjectId, required: true },
    email: { type: String, required: true },
    role: { type: String, enum: ROLES, required: true },
    status: { type: String, enum: STORED_INVITATION_STATUSES, required: true },
    invitedByUserId: { type: Schema.Types.ObjectId, required: true },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    acceptedByUserId: { type: Schema.Types.ObjectId, default: null },
    updatedAt: { type: Date, required: true },
  },
  // Timestamps are set by hand: a re-invitation restarts createdAt and expiresAt.
  { timestamps: false },
);
invitationSchema.index({ workspaceId: 1, createdAt: -1, _id: -1 });
invitationSchema.index({ email: 1 });

export const Invitation = mongoose.model<InvitationDoc>('WorkspaceInvitation', invitationSchema);

/** The _id of the invitation of `email` (normalized) to a workspace. */
export function invitationId(workspaceId: Types.ObjectId | string, email: string): Types.ObjectId {
  return new Types.ObjectId(createHash('sha256').update(`${String(workspaceId)}:${email}`).digest().subarray(0, 12));
}

export function invitationStatus(doc: Pick<InvitationDoc, 'status' | 'expiresAt'>, now = new Date()): InvitationStatus {
  return doc.status === 'PENDING' && doc.expiresAt.getTime() <= now.getTime() ? 'EXPIRED' : doc.status;
}

/** The stored condition for a computed status, for list filters. */
export function statusFilter(status: InvitationStatus, now = new Date()): Record<string, unknown> {
  if (status === 'PENDING') return { status: 'PENDING', expiresAt: { $gt: now } };
  if (status === 'EXPIRED') return { status: 'PENDING', expiresAt: { $lte: now } };
  return { status };
}
