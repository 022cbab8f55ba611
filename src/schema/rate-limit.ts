import { builder } from './builder.ts';
import { RateLimitRef } from './viewer.ts';

interface PointsView {
  limit: number;
  cost: number;
  remaining: number;
  resetAt: number;
}

const PointsRateLimitRef = builder.objectRef<PointsView>('PointsRateLimit').implement({
  description:
    "The calling key's query-cost budget as of this request, after this operation's requested cost was taken (its unused part is given back once it has run). The same numbers as `extensions.cost`.",
  authScopes: { authenticated: true },
  fields: (t) => ({
    limit: t.exposeInt('limit', { description: 'Points the key may spend per one-minute window: its pointsPerMinute, or the server default.' }),
    cost: t.exposeInt('cost', { description: "This operation's requested cost in points." }),
    remaining: t.exposeInt('remaining', { description: 'Points left in the current window.' }),
    used: t.int({ description: 'Points spent in the current window, this operation included.', resolve: (view) => view.limit - view.remaining }),
    resetAt: t.field({ type: 'DateTime', description: 'When the window ends and the whole budget is back.', resolve: (view) => new Date(view.resetAt) }),
    requests: t.field({
      type: RateLimitRef,
      nullable: true,
      description: 'The request limit counted alongside (also Viewer.rateLimit); null outside an HTTP request.',
      resolve: (_view, _args, ctx) => ctx.rateLimit,
    }),
  }),
});

builder.queryField('rateLimit', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: PointsRateLimitRef,
    description: "The calling key's query-cost budget (points per minute) and this operation's cost; every answer also carries it as extensions.cost.",
    resolve: (_root, _args, ctx) => {
      const limit = ctx.key.doc.pointsPerMinute ?? ctx.services.config.rateLimitPointsPerMinute;
      if (ctx.cost) return { limit: ctx.cost.charge.limit, cost: ctx.cost.requested, remaining: ctx.cost.charge.remaining, resetAt: ctx.cost.charge.resetAt };
      // No HTTP request behind the context: nothing was charged.
      const status = ctx.services.points.peek(ctx.key.id, limit);
      return { limit, cost: 0, remaining: status.remaining, resetAt: status.resetAt };
    },
  }),
);
