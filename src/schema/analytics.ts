import type { Types } from 'mongoose';
import { ValidationError } from '../errors.ts';
import { ClickBucket } from '../models/click-bucket.ts';
import type { LinkDoc } from '../models/link.ts';
import type { WorkspaceDoc } from '../models/workspace.ts';
import { builder } from './builder.ts';
import { LinkRef } from './links.ts';
import { loadByGlobalId } from './loaders.ts';
import { WorkspaceRef } from './workspace-ref.ts';

export const MAX_RANGE_DAYS = 90;
const DAY_MS = 86_400_000;

interface Range {
  from: string;
  to: string;
  days: string[];
}

/** UTC days from `from` to `to` inclusive; default the last 30 days; at most 90. */
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

interface Counted {
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

/** Three $match/$group aggregations over the day buckets: series, breakdowns (and top links for workspaces). */
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
      .slice(0, 20);
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

const DailyClicksRef = builder.objectRef<{ day: string; clicks: number }>('DailyClicks').implement({
  description: 'Clicks on one UTC day.',
  fields: (t) => ({
    day: t.exposeString('day', { description: 'The UTC day, YYYY-MM-DD.' }),
    clicks: t.exposeInt('clicks', { description: 'Clicks that day (0 for days without clicks).' }),
  }),
});

const CountedRef = builder.objectRef<Counted>('ClickBreakdown').implement({
  description: 'Clicks for one value of a dimension (a referrer host, a device type, a browser).',
  fields: (t) => ({
    value: t.exposeString('value', { description: 'The value, e.g. news.ycombinator.com, mobile, Firefox; "(direct)" without referrer.' }),
    clicks: t.exposeInt('clicks', { description: 'Clicks in the range.' }),
  }),
});

const StatsInterface = builder.interfaceRef<Stats>('ClickStats').implement({
  description: 'Clicks over a range of UTC days: totals, a per-day series and breakdowns.',
  fields: (t) => ({
    from: t.string({ description: 'First UTC day of the range (YYYY-MM-DD).', resolve: (s) => s.range.from }),
    to: t.string({ description: 'Last UTC day of the range (YYYY-MM-DD).', resolve: (s) => s.range.to }),
    totalClicks: t.exposeInt('totalClicks', { description: 'Clicks in the range (people; bots are counted in botClicks).' }),
    botClicks: t.exposeInt('botClicks', {
      description: 'Requests from crawlers, link-preview fetchers and scripts (curl, wget…) in the range: redirected, but not clicks.',
    }),
    series: t.field({ type: [DailyClicksRef], description: 'Clicks per day, every day of the range.', resolve: (s) => s.series }),
    referrers: t.field({ type: [CountedRef], description: 'Top referrer hosts (at most 20).', resolve: (s) => s.referrers }),
    devices: t.field({ type: [CountedRef], description: 'Clicks per device type.', resolve: (s) => s.devices }),
    browsers: t.field({ type: [CountedRef], description: 'Top browsers (at most 20).', resolve: (s) => s.browsers }),
  }),
});

const LinkStatsRef = builder.objectRef<Stats & { link: LinkDoc }>('LinkStats').implement({
  description: 'Click analytics of one link over a range of days.',
  interfaces: [StatsInterface],
  isTypeOf: (value) => value instanceof Object && 'link' in value && 'series' in value,
  authScopes: (stats) => ({ visibleWorkspace: String(stats.link.workspaceId), access: { resource: 'ANALYTICS', level: 'READ' } }),
  fields: (t) => ({
    link: t.field({ type: LinkRef, description: 'The link.', resolve: (s) => s.link }),
  }),
});

const LinkClicksRef = builder.objectRef<{ link: LinkDoc; clicks: number }>('LinkClicks').implement({
  description: 'Clicks of one link in a range.',
  authScopes: (row) => ({ visibleWorkspace: String(row.link.workspaceId), access: { resource: 'ANALYTICS', level: 'READ' } }),
  fields: (t) => ({
    link: t.field({ type: LinkRef, description: 'The link.', resolve: (row) => row.link }),
    clicks: t.exposeInt('clicks', { description: 'Its clicks in the range.' }),
  }),
});

const WorkspaceStatsRef = builder.objectRef<Stats & { workspace: WorkspaceDoc }>('WorkspaceStats').implement({
  description: 'Click analytics of a whole workspace over a range of days.',
  interfaces: [StatsInterface],
  isTypeOf: (value) => value instanceof Object && 'workspace' in value && 'series' in value,
  authScopes: (stats) => ({ visibleWorkspace: String(stats.workspace._id), access: { resource: 'ANALYTICS', level: 'READ' } }),
  fields: (t) => ({
    workspace: t.field({ type: WorkspaceRef, description: 'The workspace.', resolve: (s) => s.workspace }),
    topLinks: t.field({
      type: [LinkClicksRef],
      description: 'The most clicked links in the range (at most 10; deleted links are left out).',
      resolve: async (stats, _args, ctx) => {
        const rows = await ClickBucket.aggregate<{ _id: Types.ObjectId; clicks: number }>([
          { $match: { workspaceId: stats.workspace._id, day: { $gte: stats.range.from, $lte: stats.range.to }, dimension: 'total' } },
          { $group: { _id: '$linkId', clicks: { $sum: '$clicks' } } },
          { $sort: { clicks: -1 } },
          { $limit: 20 },
        ]).exec();
        const links = await Promise.all(rows.map((row) => ctx.loaders.link.load(String(row._id))));
        return rows
          .map((row, i) => ({ link: links[i], clicks: row.clicks }))
          .filter((row): row is { link: LinkDoc; clicks: number } => row.link !== null && row.link !== undefined)
          .slice(0, 10);
      },
    }),
  }),
});

const FROM_DESCRIPTION = 'Start of the range (its UTC day counts); default 29 days before `to`.';
const TO_DESCRIPTION = 'End of the range (its UTC day counts); default today.';

builder.queryField('linkStats', (t) =>
  t.field({
    type: LinkStatsRef,
    nullable: true,
    description: 'Clicks of a link per day, referrer, device and browser, for at most 90 days (analytics:read). Null for unknown links.',
    authScopes: { access: { resource: 'ANALYTICS', level: 'READ' } },
    errors: { types: [ValidationError], union: { name: 'LinkStatsResult', description: 'Link statistics, or why the range was refused.' }, directResult: true },
    args: { linkId: t.arg.id({ required: true, description: 'The global id of the link.' }), from: t.arg({ type: 'DateTime', description: FROM_DESCRIPTION }), to: t.arg({ type: 'DateTime', description: TO_DESCRIPTION }) },
    resolve: async (_root, args, ctx) => {
      const range = statsRange(args.from, args.to);
      const link = await loadByGlobalId(ctx, 'link', args.linkId, 'linkId');
      if (!link) return null;
      return { ...(await aggregateStats({ linkId: link._id }, range)), link };
    },
  }),
);

builder.queryField('workspaceStats', (t) =>
  t.field({
    type: WorkspaceStatsRef,
    nullable: true,
    description: 'Clicks of a whole workspace per day, top links, referrers, devices and browsers, for at most 90 days (analytics:read).',
    authScopes: { access: { resource: 'ANALYTICS', level: 'READ' } },
    errors: { types: [ValidationError], union: { name: 'WorkspaceStatsResult', description: 'Workspace statistics, or why the range was refused.' }, directResult: true },
    args: { workspaceId: t.arg.id({ required: true, description: 'The global id of the workspace.' }), from: t.arg({ type: 'DateTime', description: FROM_DESCRIPTION }), to: t.arg({ type: 'DateTime', description: TO_DESCRIPTION }) },
    resolve: async (_root, args, ctx) => {
      const range = statsRange(args.from, args.to);
      const workspace = await loadByGlobalId(ctx, 'workspace', args.workspaceId, 'workspaceId');
      if (!workspace) return null;
      return { ...(await aggregateStats({ workspaceId: workspace._id }, range)), workspace };
    },
  }),
);
