import { linkStats, statsRange, topLinks, workspaceStats, type Counted, type LinkClicks, type LinkStats, type Stats, type WorkspaceStats } from '../core/analytics.ts';
import { ValidationError } from '../errors.ts';
import { builder } from './builder.ts';
import { parseQueryIdArg } from './ids.ts';
import { LinkRef } from './links.ts';
import { WorkspaceRef } from './workspace-ref.ts';

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

const LinkStatsRef = builder.objectRef<LinkStats>('LinkStats').implement({
  description: 'Click analytics of one link over a range of days.',
  interfaces: [StatsInterface],
  authScopes: (stats) => ({ visibleWorkspace: String(stats.link.workspaceId), access: { resource: 'ANALYTICS', level: 'READ' } }),
  fields: (t) => ({
    link: t.field({ type: LinkRef, description: 'The link.', resolve: (s) => s.link }),
  }),
});

const LinkClicksRef = builder.objectRef<LinkClicks>('LinkClicks').implement({
  description: 'Clicks of one link in a range.',
  authScopes: (row) => ({ visibleWorkspace: String(row.link.workspaceId), access: { resource: 'ANALYTICS', level: 'READ' } }),
  fields: (t) => ({
    link: t.field({ type: LinkRef, description: 'The link.', resolve: (row) => row.link }),
    clicks: t.exposeInt('clicks', { description: 'Its clicks in the range.' }),
  }),
});

const WorkspaceStatsRef = builder.objectRef<WorkspaceStats>('WorkspaceStats').implement({
  description: 'Click analytics of a whole workspace over a range of days.',
  interfaces: [StatsInterface],
  authScopes: (stats) => ({ visibleWorkspace: String(stats.workspace._id), access: { resource: 'ANALYTICS', level: 'READ' } }),
  fields: (t) => ({
    workspace: t.field({ type: WorkspaceRef, description: 'The workspace.', resolve: (s) => s.workspace }),
    topLinks: t.field({
      type: [LinkClicksRef],
      description: 'The most clicked links in the range (at most 10; deleted links are left out).',
      resolve: (stats, _args, ctx) => topLinks(ctx, stats.workspace._id, stats.range),
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
    resolve: (_root, args, ctx) => {
      const range = statsRange(args.from, args.to);
      return linkStats(ctx, { linkId: parseQueryIdArg(args.linkId, 'Link', 'linkId'), range });
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
    resolve: (_root, args, ctx) => {
      const range = statsRange(args.from, args.to);
      return workspaceStats(ctx, { workspaceId: parseQueryIdArg(args.workspaceId, 'Workspace', 'workspaceId'), range });
    },
  }),
);
