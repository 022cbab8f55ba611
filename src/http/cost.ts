import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { PointsCharge, PointsStatus } from '../auth/points.ts';
import type { Context } from '../context.ts';
import { actualCost, requestedCost } from '../schema/cost.ts';
import { COMPLEXITY_LIMITS } from '../schema/limits.ts';
import type { Services } from '../services.ts';
import { addressId, type RequestAuth } from './auth-plugin.ts';

/** Whose points a request spends: its key's, or its address's when anonymous. */
export interface PointsOwner {
  id: string;
  limit: number;
}

export function pointsOwner(services: Services, auth: Pick<RequestAuth, 'key' | 'clientIp'>): PointsOwner {
  const { config } = services;
  if (auth.key) return { id: auth.key.id, limit: auth.key.doc.pointsPerMinute ?? config.rateLimitPointsPerMinute };
  return { id: `ip:${addressId(services, auth.clientIp)}`, limit: config.rateLimitPointsPerMinute };
}

interface Charged {
  owner: PointsOwner;
  requested: number;
  /** Points taken up front: the requested cost, or 0 when refused (throttled, or over the complexity limits). */
  charged: number;
  charge: PointsCharge;
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode | null;
  variables: Record<string, unknown> | undefined;
  ctx: Context;
}

function throttleStatus(status: PointsStatus) {
  return { maximumAvailable: status.limit, currentlyAvailable: status.remaining, restoreRate: status.limit / 60 };
}

function throttled(owner: PointsOwner, requested: number, charge: PointsCharge): GraphQLError {
  const cost = { requestedQueryCost: requested, throttleStatus: throttleStatus(charge) };
  if (requested > owner.limit) {
    // Waiting cannot help: no Retry-After, and the way out in the message.
    return new GraphQLError(
      `This operation costs ${requested} points, more than this key's whole budget of ${owner.limit} points per minute: request fewer items per page (first), fewer fields or nested connections, or split it.`,
      { extensions: { code: 'THROTTLED', cost, http: { status: 429 } } },
    );
  }
  const seconds = charge.resetSeconds;
  return new GraphQLError(
    `This operation costs ${requested} points and only ${charge.remaining} of the ${owner.limit} points per minute are left: retry after ${seconds} s, or request fewer items.`,
    { extensions: { code: 'THROTTLED', cost, http: { status: 429, headers: { 'Retry-After': String(seconds) } } } },
  );
}

function withinLimits(result: { complexity: number; depth: number; breadth: number }): boolean {
  return result.complexity <= COMPLEXITY_LIMITS.complexity && result.depth <= COMPLEXITY_LIMITS.depth && result.breadth <= COMPLEXITY_LIMITS.breadth;
}

/**
 * Query cost, Shopify's way: before an operation executes its requested cost (the complexity the
 * server limits) is taken from the caller's points budget, or the operation is refused (429,
 * THROTTLED) with nothing run; after it, the difference to its actual cost is given back. Every
 * answer of an authenticated (or anonymous introspection) request carries `extensions.cost`.
 * Put it before cacheIntrospection, whose cached answers skip the later onExecute hooks.
 */
export function queryCost(services: Services, authOf: (request: Request) => RequestAuth): Plugin<Context> {
  const requests = new WeakMap<Request, Charged>();

  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue;
      const owner = pointsOwner(services, ctx);
      const variables = (args.variableValues ?? undefined) as Record<string, unknown> | undefined;
      const complexity = requestedCost(args.schema, args.document, args.operationName, variables, ctx);
      const requested = complexity?.complexity ?? 0;
      // Over the complexity limits the executor refuses it (QUERY_TOO_COMPLEX): nothing to charge.
      const charging = complexity && withinLimits(complexity) ? requested : 0;
      const charge = await services.points.charge(owner.id, owner.limit, charging);
      const operation = getOperationAST(args.document, args.operationName) ?? null;
      requests.set(ctx.request, {
        owner,
        requested,
        charged: charge.allowed ? charging : 0,
        charge,
        schema: args.schema,
        document: args.document,
        operation,
        variables,
        ctx,
      });
      ctx.cost = { requested, charge };
      if (!charge.allowed) setResultAndStopExecution({ errors: [throttled(owner, requested, charge)] });
    },
    onExecutionResult({ request, result, setResult }) {
      if (!result || isAsyncIterable(result)) return;
      const charged = requests.get(request);
      let owner = charged?.owner;
      if (!owner) {
        // Refused before execution (parse, validation): shown the budget, charged nothing.
        let auth: RequestAuth;
        try {
          auth = authOf(request);
        } catch {
          return; // not authenticated: no budget to show
        }
        owner = pointsOwner(services, auth);
      }
      let actual = 0;
      if (charged && charged.charged > 0 && charged.operation) {
        const { schema, document, operation, variables, ctx } = charged;
        actual = Math.min(charged.charged, actualCost(schema, document, operation, variables, result.data, ctx));
        if (charged.charged > actual) services.points.refund(owner.id, owner.limit, charged.charged - actual, charged.charge.resetAt);
      }
      const status = services.points.peek(owner.id, owner.limit);
      const cost = { requestedQueryCost: charged?.requested ?? 0, actualQueryCost: actual, throttleStatus: throttleStatus(status) };
      setResult({ ...(result as ExecutionResult), extensions: { ...(result as ExecutionResult).extensions, cost } });
    },
  };
}
