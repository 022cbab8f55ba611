import mongoose, { Schema, type Types } from 'mongoose';

export interface Utm {
  source?: string | null;
  medium?: string | null;
  campaign?: string | null;
  term?: string | null;
  content?: string | null;
}

export interface LinkDoc {
  _id: Types.ObjectId;
  workspaceId: Types.ObjectId;
  /** Lowercased host the link answers on: the platform SHORT_DOMAIN or a workspace domain. */
  domain: string;
  slug: string;
  url: string;
  title?: string | null;
  description?: string | null;
  tags: string[];
  projectId?: Types.ObjectId | null;
  utm?: Utm | null;
  expiresAt?: Date | null;
  maxClicks?: number | null;
  archived: boolean;
  clicks: number;
  /** Requests from bots (crawlers, link previews, scripts): redirected, never counted in clicks or maxClicks. */
  botClicks?: number;
  createdByUserId: Types.ObjectId;
  createdByKeyId?: Types.ObjectId | null;
  createdAt: Date;
  updatedAt: Date;
}

const linkSchema = new Schema<LinkDoc>(
  {
    workspaceId: { type: Schema.Types.ObjectId, required: true },
    domain: { type: String, required: true },
    slug: { type: String, required: true },
    url: { type: String, required: true },
    title: { type: String, default: null },
    description: { type: String, default: null },
    tags: [{ type: String }],
    projectId: { type: Schema.Types.ObjectId, default: null },
    utm: {
      _id: false,
      type: { source: String, medium: String, campaign: String, term: String, content: String },
      default: null,
    },
    expiresAt: { type: Date, default: null },
    maxClicks: { type: Number, default: null },
    archived: { type: Boolean, default: false },
    clicks: { type: Number, default: 0 },
    botClicks: { type: Number, default: 0 },
    createdByUserId: { type: Schema.Types.ObjectId, required: true },
    createdByKeyId: { type: Schema.Types.ObjectId, default: null },
  },
  { timestamps: true },
);
// Case-sensitive slugs, unique per domain.
linkSchema.index({ domain: 1, slug: 1 }, { unique: true });
linkSchema.index({ workspaceId: 1, createdAt: -1 });
linkSchema.index({ projectId: 1 });

export const Link = mongoose.model<LinkDoc>('Link', linkSchema);
