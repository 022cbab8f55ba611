import mongoose, { Schema, type Types } from 'mongoose';
import { DomainHost, type DomainHostDoc } from './domain-host.ts';

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
domainSchema.index({ workspaceId: 1, createdAt: -1, _id: -1 });

// A created domain points its hostname at itself (the unique index let it be created, so it is
// the domain of that name now): lookups by Host then never scan the domains.
const pointHost = (doc: Pick<DomainDoc, '_id' | 'hostname'>) =>
  DomainHost.updateOne({ _id: doc.hostname }, { $set: { domainId: doc._id } }, { upsert: true }).exec();
domainSchema.post('save', async function (doc) {
  await pointHost(doc);
});
domainSchema.post('insertMany', async function (docs) {
  for (const doc of docs as unknown as DomainDoc[]) await pointHost(doc);
});

export const Domain = mongoose.model<DomainDoc>('Domain', domainSchema);

/** The custom domain registered for `hostname`, or null: two primary-key reads (see domain-host.ts). */
export async function findDomainByHost(hostname: string): Promise<DomainDoc | null> {
  const pointer = await DomainHost.findById(hostname).lean<DomainHostDoc>().exec();
  if (!pointer) return null;
  const domain = await Domain.findById(pointer.domainId).lean<DomainDoc>().exec();
  return domain?.hostname === hostname ? domain : null;
}
