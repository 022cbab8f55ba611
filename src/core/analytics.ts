import type { Types } from 'mongoose';
import { ValidationError } from '../errors.ts';
import { ClickBucket } from '../models/click-bucket.ts';
import type { LinkDoc } from '../models/link.ts';
import type { WorkspaceDoc } from '../models/workspace.ts';
import type { Actor } from './actor.ts';

export type { LinkDoc } from '../models/link.ts';
export type { WorkspaceDoc } from '../models/workspace.ts';

export const MAX_RANGE_DAYS = 90;
const DAY_MS = 86_400_000;
const MAX_BREAKDOWN = 20;
const MAX_TOP_LINKS = 10;

export interface Range {
  from: string;
  to: string;
  days: string[];
}

/**
 * UTC days from `from` to `to` inclusive; default the last 30 days; at most 90. Callers check the
 * range before anything else, so a refused range is the answer whatever the other arguments.
 */
export function statsRange(from: Date | null | undefined, to: Date | null | undefined, now = new Date()): Range {
  const end = Date.UTC((to ?? now).getUTCFullYear(), (to ?? now).getUTCMonth(), (to ?? now).getUTCDate());
  const start = from ? Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()) : end - 29 * DAY_MS;
  if (start > end) throw new ValidationError('from', '`from` must not be after `to`');
  const count = (end - start) / DAY_MS + 1;
  if (count > MAX_RANGE_DAYS) {
    throw new ValidationError('from', `the range covers ${count} days; at most ${MAX_RANGE_DAYS} are allowed, split it into several queries`);
  }
  const days = Array.from({ length: count }, (_, i) => new Date(start + i * DAY_MS).toISOString().slice(0, 10));
  return { from: days[0]!, to: days[days.length - 1]!, days };
}

export interface Counted {
  value: string;
  clicks: number;
}

export interface Stats {
  range: Range;
  totalClicks: number;
  botClicks: number;
  series: { day: string; clicks: number }[];
  referrers: Counted[];
  devices: Counted[];
  browsers: Counted[];
}

export interface LinkStats extends Stats {
  link: LinkDoc;
}

export interface WorkspaceStats extends Stats {
  workspace: WorkspaceDoc;
}

export interface LinkClicks {
  link: LinkDoc;
  clicks: number;
}

/** Two $match/$group aggregations over the day buckets: the per-day series and the breakdowns. */
async function aggregateStats(match: { linkId?: Types.ObjectId; workspaceId?: Types.ObjectId }, range: Range): Promise<Stats> {
  const days = { $gte: range.from, $lte: range.to };
  const [perDay, breakdown] = await Promise.all([
    ClickBucket.aggregate<{ _id: { day: string; dimension: string }; clicks: number }>([
      { $match: { ...match, day: days, dimension: { $in: ['total', 'bot'] } } },
      { $group: { _id: { day: '$day', dimension: '$dimension' }, clicks: { $sum: '$clicks' } } },
    ]).exec(),
    ClickBucket.aggregate<{ _id: { dimension: string; value: string }; clicks: number }>([
      { $match: { ...match, day: days, dimension: { $in: ['referrer', 'device', 'browser'] } } },
      { $group: { _id: { dimension: '$dimension', value: '$value' }, clicks: { $sum: '$clicks' } } },
      { $sort: { clicks: -1 } },
    ]).exec(),
  ]);
  const byDay = new Map(perDay.filter((row) => row._id.dimension === 'total').map((row) => [row._id.day, row.clicks]));
  const botClicks = perDay.filter((row) => row._id.dimension === 'bot').reduce((sum, row) => sum + row.clicks, 0);
  const series = range.days.map((day) => ({ day, clicks: byDay.get(day) ?? 0 }));
  const pick = (dimension: string) =>
    breakdown
      .filter((row) => row._id.dimension === dimension)
      .map((row) => ({ value: row._id.value, clicks: row.clicks }))
      .sort((a, b) => b.clicks - a.clicks || a.value.localeCompare(b.value))
      .slice(0, MAX_BREAKDOWN);
  return {
    range,
    totalClicks: series.reduce((sum, d) => sum + d.clicks, 0),
    botClicks,
    series,
    referrers: pick('referrer'),
    devices: pick('device'),
    browsers: pick('browser'),
  };
}

/** The clicks of a link over a range from statsRange; null when it does not exist or the actor may not see it. */
export async function linkStats(actor: Actor, input: { linkId: Types.ObjectId; range: Range }): Promise<LinkStats | null> {
  const { range } = input;
  const link = await actor.loaders.link.load(String(input.linkId));
  if (!link) return null;
  return { ...(await aggregateStats({ linkId: link._id }, range)), link };
}

/** The clicks of a whole workspace over a range from statsRange; null when it does not exist or the actor may not see it. */
export async function workspaceStats(actor: Actor, input: { workspaceId: Types.ObjectId; range: Range }): Promise<WorkspaceStats | null> {
  const { range } = input;
  const workspace = await actor.loaders.workspace.load(String(input.workspaceId));
  if (!workspace) return null;
  return { ...(await aggregateStats({ workspaceId: workspace._id }, range)), workspace };
}

/**
 * The most clicked links of a workspace in a range, at most 10. Deleted links are left out; twice
 * as many rows as needed are read so that a few deleted ones do not shorten the list.
 */
export async function topLinks(actor: Actor, workspaceId: Types.ObjectId, range: Range): Promise<LinkClicks[]> {
  const rows = await ClickBucket.aggregate<{ _id: Types.ObjectId; clicks: number }>([
    { $match: { workspaceId, day: { $gte: range.from, $lte: range.to }, dimension: 'total' } },
    { $group: { _id: '$linkId', clicks: { $sum: '$clicks' } } },
    { $sort: { clicks: -1 } },
    { $limit: 2 * MAX_TOP_LINKS },
  ]).exec();
  const links = await Promise.all(rows.map((row) => actor.loaders.link.load(String(row._id))));
  return rows
    .map((row, i) => ({ link: links[i], clicks: row.clicks }))
    .filter((row): row is LinkClicks => row.link !== null && row.link !== undefined)
    .slice(0, MAX_TOP_LINKS);
}
