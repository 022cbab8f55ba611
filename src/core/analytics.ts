import type { Types } from 'mongoose';
import { ValidationError } from '../errors.ts';
import { readerOf } from '../db/read-connection.ts';
import { BREAKDOWNS, ClickDay, decodeCounterKey, linkDayId, OTHER_KEY, workspaceDayId, type Breakdown, type ClickDayDoc } from '../models/click-day.ts';
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

/**
 * The day documents with these ids, by primary key: on the embedded database one `{ _id }` read
 * per day (it scans the collection for anything else, `$in` included); on MongoDB one `$in`.
 */
async function readDays(actor: Actor, ids: string[]): Promise<ClickDayDoc[]> {
  if (actor.services.db.kind === 'mongodb') return ClickDay.find({ _id: { $in: ids } }).lean<ClickDayDoc[]>().exec();
  const docs = await Promise.all(ids.map((_id) => ClickDay.findOne({ _id }).lean<ClickDayDoc>().exec()));
  return docs.filter((doc): doc is ClickDayDoc => doc !== null);
}

/** Adds up day documents (of one link or one workspace) into the stats of a range. */
function sumDays(range: Range, docs: ClickDayDoc[]): Stats {
  const byDay = new Map(docs.map((doc) => [doc.day, doc.clicks ?? 0]));
  const series = range.days.map((day) => ({ day, clicks: byDay.get(day) ?? 0 }));
  const pick = (breakdown: Breakdown) => {
    const totals = new Map<string, number>();
    for (const doc of docs) {
      for (const [key, clicks] of Object.entries(doc[breakdown] ?? {})) {
        const value = decodeCounterKey(key);
        totals.set(value, (totals.get(value) ?? 0) + clicks);
      }
    }
    return [...totals]
      .map(([value, clicks]) => ({ value, clicks }))
      .sort((a, b) => b.clicks - a.clicks || a.value.localeCompare(b.value))
      .slice(0, MAX_BREAKDOWN);
  };
  const [referrers, devices, browsers] = BREAKDOWNS.map(pick) as [Counted[], Counted[], Counted[]];
  return {
    range,
    totalClicks: series.reduce((sum, d) => sum + d.clicks, 0),
    botClicks: docs.reduce((sum, doc) => sum + (doc.botClicks ?? 0), 0),
    series,
    referrers,
    devices,
    browsers,
  };
}

/** The clicks of a link over a range from statsRange; null when it does not exist or the actor may not see it. */
export async function linkStats(actor: Actor, input: { linkId: Types.ObjectId; range: Range }): Promise<LinkStats | null> {
  const { range } = input;
  const link = await actor.loaders.link.load(String(input.linkId));
  if (!link) return null;
  return { ...sumDays(range, await readDays(actor, range.days.map((day) => linkDayId(link._id, day)))), link };
}

/** The clicks of a whole workspace over a range from statsRange; null when it does not exist or the actor may not see it. */
export async function workspaceStats(actor: Actor, input: { workspaceId: Types.ObjectId; range: Range }): Promise<WorkspaceStats | null> {
  const { range } = input;
  const workspace = await actor.loaders.workspace.load(String(input.workspaceId));
  if (!workspace) return null;
  return { ...sumDays(range, await readDays(actor, range.days.map((day) => workspaceDayId(workspace._id, day)))), workspace };
}

/**
 * The most clicked links of a workspace in a range, at most 10. Deleted links are left out; twice
 * as many rows as needed are read so that a few deleted ones do not shorten the list.
 */
export async function topLinks(actor: Actor, workspaceId: Types.ObjectId, range: Range): Promise<LinkClicks[]> {
  const rows = (await topFromWorkspaceDays(actor, workspaceId, range)) ?? (await topFromLinkDays(workspaceId, range));
  const links = await Promise.all(rows.map((row) => actor.loaders.link.load(row.linkId)));
  return rows
    .map((row, i) => ({ link: links[i], clicks: row.clicks }))
    .filter((row): row is LinkClicks => row.link !== null && row.link !== undefined)
    .slice(0, MAX_TOP_LINKS);
}

interface TopRow {
  linkId: string;
  clicks: number;
}

/**
 * From the clicks per link the workspace days keep, by primary key; null when one of them is
 * incomplete (over its cap of links, or written without them): their links then add up to less
 * than their clicks.
 */
async function topFromWorkspaceDays(actor: Actor, workspaceId: Types.ObjectId, range: Range): Promise<TopRow[] | null> {
  const totals = new Map<string, number>();
  for (const doc of await readDays(actor, range.days.map((day) => workspaceDayId(workspaceId, day)))) {
    let sum = 0;
    for (const [linkId, clicks] of Object.entries(doc.links ?? {})) {
      if (linkId === OTHER_KEY) return null;
      totals.set(linkId, (totals.get(linkId) ?? 0) + clicks);
      sum += clicks;
    }
    if (sum !== (doc.clicks ?? 0)) return null;
  }
  return [...totals]
    .map(([linkId, clicks]) => ({ linkId, clicks }))
    .sort((a, b) => b.clicks - a.clicks || (a.linkId < b.linkId ? -1 : 1))
    .slice(0, 2 * MAX_TOP_LINKS);
}

/**
 * From the link days of the workspace: the `{ workspaceId, day }` index on MongoDB, a scan of
 * every click day on the embedded database (on its read connection, so it holds up no one else).
 */
async function topFromLinkDays(workspaceId: Types.ObjectId, range: Range): Promise<TopRow[]> {
  const rows = await readerOf(ClickDay).aggregate<{ _id: Types.ObjectId; clicks: number }>([
    { $match: { workspaceId, day: { $gte: range.from, $lte: range.to }, linkId: { $exists: true }, clicks: { $gt: 0 } } },
    { $group: { _id: '$linkId', clicks: { $sum: '$clicks' } } },
    { $sort: { clicks: -1, _id: 1 } },
    { $limit: 2 * MAX_TOP_LINKS },
  ]).exec();
  return rows.map((row) => ({ linkId: String(row._id), clicks: row.clicks }));
}
