import mongoose, { Schema, type Types } from 'mongoose';

/**
 * The hostname registry: `_id` is a custom domain's hostname, so the domain of a request's Host is
 * one primary-key read here and one (`findById`) of the Domain, never a scan of the domains. The
 * Domain model writes it whenever a domain is created (see domain.ts). It only points: the Domain
 * decides (it must exist and still have that hostname), so a stale document (its domain deleted,
 * alone or with its workspace) finds nothing, and the next domain of that name takes it over.
 */
export interface DomainHostDoc {
  _id: string;
  domainId: Types.ObjectId;
}

const domainHostSchema = new Schema<DomainHostDoc>(
  {
    _id: { type: String, required: true },
    domainId: { type: Schema.Types.ObjectId, required: true },
  },
  { versionKey: false },
);

export const DomainHost = mongoose.model<DomainHostDoc>('DomainHost', domainHostSchema);
