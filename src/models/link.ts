import mongoose, { Schema, type Types } from 'mongoose';
import { adjustCounters, counterId, type CounterDelta } from './counter.ts';

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
  /** Lowercased hostname of a workspace domain, or PLATFORM_DOMAIN (src/rules/links.ts) for the platform's short domain. */
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
// On MongoDB a page of a list is one range read of one of these (the sort key, then `_id`).
for (const sort of ['createdAt', 'updatedAt', 'clicks']) linkSchema.index({ workspaceId: 1, archived: 1, [sort]: -1, _id: -1 });
linkSchema.index({ projectId: 1, archived: 1, createdAt: -1, _id: -1 });

/** The counters (src/models/counter.ts) a link in this state is counted in. */
export function linkCounters(link: Pick<LinkDoc, 'workspaceId' | 'archived' | 'projectId'>): string[] {
  if (link.archived) return [counterId('archivedLinks', link.workspaceId)];
  return [counterId('links', link.workspaceId), ...(link.projectId ? [counterId('projectLinks', link.projectId)] : [])];
}

/** Counter deltas for links leaving state `from` and entering state `to` (null: created or deleted). */
export function linkCounterDeltas(
  changes: readonly { from: Parameters<typeof linkCounters>[0] | null; to: Parameters<typeof linkCounters>[0] | null }[],
): CounterDelta[] {
  return changes.flatMap(({ from, to }) => [
    ...(from ? linkCounters(from).map((id) => ({ id, workspaceId: from.workspaceId, by: -1 })) : []),
    ...(to ? linkCounters(to).map((id) => ({ id, workspaceId: to.workspaceId, by: 1 })) : []),
  ]);
}

// Every link created (by a use case, the seed, the CLI or a test) is counted by the model, after
// it is written; the use cases that archive, move or delete links adjust the counters themselves.
linkSchema.pre('save', function () {
  this.$locals.created = this.isNew;
});
linkSchema.post('save', async function (doc) {
  if (doc.$locals.created) await adjustCounters(linkCounterDeltas([{ from: null, to: doc }]));
});
linkSchema.post('insertMany', async function (docs) {
  await adjustCounters(linkCounterDeltas((docs as unknown as LinkDoc[]).map((doc) => ({ from: null, to: doc }))));
});

export const Link = mongoose.model<LinkDoc>('Link', linkSchema);
