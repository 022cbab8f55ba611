import mongoose, { Schema, type Types } from 'mongoose';

/**
 * The slug registry: `_id` is "<domain>/<slug>" (the link's domain as stored: a lowercased host,
 * or "@platform" on the platform's short domain),
 * so a redirect lookup is one primary-key read here and one (`findById`) of the Link, and a slug
 * is unique because an `_id` is. It only points at a link: the Link decides (it must exist and
 * still have that domain and slug), so a stale or orphaned document never serves another link.
 */
export interface SlugDoc {
  _id: string;
  linkId: Types.ObjectId;
  workspaceId: Types.ObjectId;
  createdAt: Date;
}

export const slugId = (domain: string, slug: string): string => `${domain}/${slug}`;

const slugSchema = new Schema<SlugDoc>(
  {
    _id: { type: String, required: true },
    linkId: { type: Schema.Types.ObjectId, required: true },
    workspaceId: { type: Schema.Types.ObjectId, required: true },
    createdAt: { type: Date, default: () => new Date() },
  },
  { versionKey: false },
);

export const Slug = mongoose.model<SlugDoc>('Slug', slugSchema);
