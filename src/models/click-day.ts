import mongoose, { Schema, type Types } from 'mongoose';

/** The open-ended breakdowns of a day, each a map from value to clicks. */
export const BREAKDOWNS = ['referrers', 'devices', 'browsers'] as const;
export type Breakdown = (typeof BREAKDOWNS)[number];

/**
 * The clicks of one link on one UTC day (`_id` = linkDayId), or of a whole workspace on one day
 * (`_id` = workspaceDayId, no linkId), so that stats over a range are one primary-key read per
 * day: the embedded FerretDB pushes down only an exact `{ _id }` filter. The flusher bumps them
 * with upserting $incs. Breakdown keys are stored encoded (encodeCounterKey): hostnames contain
 * dots, which update paths would read as nesting.
 */
export interface ClickDayDoc {
  _id: string;
  workspaceId: Types.ObjectId;
  /** Absent on workspace days. */
  linkId?: Types.ObjectId;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  /** Counters are absent until first bumped. */
  clicks?: number;
  /** Crawlers, preview fetchers and scripts: not clicks, not in the breakdowns. */
  botClicks?: number;
  referrers?: Record<string, number>;
  devices?: Record<string, number>;
  browsers?: Record<string, number>;
  /**
   * Workspace days only: clicks per link id, for topLinks. Complete when it adds up to `clicks`
   * (no OTHER_KEY, nothing written without it); otherwise topLinks reads the link days instead.
   */
  links?: Record<string, number>;
}

const clickDaySchema = new Schema<ClickDayDoc>({
  _id: { type: String, required: true },
  workspaceId: { type: Schema.Types.ObjectId, required: true },
  linkId: { type: Schema.Types.ObjectId },
  day: { type: String, required: true },
  // No defaults: an upsert would add them in $setOnInsert, clashing with the $inc of "referrers.<key>".
  clicks: { type: Number },
  botClicks: { type: Number },
  referrers: { type: Schema.Types.Mixed },
  devices: { type: Schema.Types.Mixed },
  browsers: { type: Schema.Types.Mixed },
  links: { type: Schema.Types.Mixed },
});
// topLinks (link days of a workspace in a range) and the workspace deletion cascade.
clickDaySchema.index({ workspaceId: 1, day: 1 });

export const ClickDay = mongoose.model<ClickDayDoc>('ClickDay', clickDaySchema);

/**
 * Referrers are whatever the client sends and browser names partly so: a day document keeps at
 * most this many distinct keys per breakdown (and a workspace day this many links), later ones
 * count as OTHER_KEY. Device types are a fixed set and not capped.
 */
/** The old per-value dimensions (and the recorder's), by the field of a day document that holds them. */
export const BREAKDOWN_OF = { referrer: 'referrers', device: 'devices', browser: 'browsers' } as const satisfies Record<string, Breakdown>;

/** The counts of one day document (link or workspace) as built in memory before they are written. */
export interface DayCounts {
  _id: string;
  workspaceId: Types.ObjectId;
  linkId: Types.ObjectId | null;
  day: string;
  clicks: number;
  botClicks: number;
  /** The breakdowns and, on workspace days, the clicks per link: field → key → count. */
  counts: Record<Breakdown | 'links', Map<string, number>>;
}

export const MAX_KEYS_PER_LINK_DAY = 100;
export const MAX_KEYS_PER_WORKSPACE_DAY = 1000;
export const OTHER_KEY = '(other)';

/** At most `max` keys, the most clicked; the clicks of the rest are added to OTHER_KEY. */
export function capKeys(counts: Map<string, number>, max: number): Map<string, number> {
  if (counts.size <= max) return counts;
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const kept = new Map(sorted.filter(([value]) => value !== OTHER_KEY).slice(0, max));
  const rest = [...counts].filter(([value]) => !kept.has(value)).reduce((sum, [, clicks]) => sum + clicks, 0);
  if (rest > 0) kept.set(OTHER_KEY, rest);
  return kept;
}

export function linkDayId(linkId: Types.ObjectId | string, day: string): string {
  return `${linkId}:${day}`;
}

export function workspaceDayId(workspaceId: Types.ObjectId | string, day: string): string {
  return `ws:${workspaceId}:${day}`;
}

/**
 * A breakdown value as a field name: '%', '.' and '$' percent-encoded (MongoDB and FerretDB read
 * "a.b" in an update path as nesting and refuse a leading '$'), the empty string as a lone '%'.
 * decodeCounterKey(encodeCounterKey(v)) === v for every string.
 */
export function encodeCounterKey(value: string): string {
  if (value === '') return '%';
  return value.replace(/[%.$\0]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function decodeCounterKey(key: string): string {
  if (key === '%') return '';
  return key.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
