import mongoose, { Schema, type Types } from 'mongoose';

export interface DomainDoc {
  _id: Types.ObjectId;
  workspaceId: Types.ObjectId;
  /** Lowercased; unique across the platform. */
  hostname: string;
  verified: boolean;
  verifiedAt?: Date | null;
  verificationToken: string;
  primary: boolean;
  notFoundUrl?: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const domainSchema = new Schema<DomainDoc>(
  {
    workspaceId: { type: Schema.Types.ObjectId, required: true },
    hostname: { type: String, required: true, lowercase: true },
    verified: { type: Boolean, default: false },
    verifiedAt: { type: Date, default: null },
    verificationToken: { type: String, required: true },
    primary: { type: Boolean, default: false },
    notFoundUrl: { type: String, default: null },
  },
  { timestamps: true },
);
domainSchema.index({ hostname: 1 }, { unique: true });
domainSchema.index({ workspaceId: 1 });

export const Domain = mongoose.model<DomainDoc>('Domain', domainSchema);
