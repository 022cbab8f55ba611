import { GraphQLError } from 'graphql';
import type { ComplexityErrorFn, FieldComplexityFunction } from '@pothos/plugin-complexity';
import type { Context } from '../context.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './limits.ts';

/** Connections cost their page size times what each item selects; other fields cost 1. */
export const fieldComplexity: FieldComplexityFunction<Context, Record<string, unknown>> = (args, _ctx, field) => {
  if (!field.args.some((arg) => arg.name === 'first')) return { field: 1, multiplier: 1 };
  const size = (args.first ?? args.last ?? DEFAULT_PAGE_SIZE) as number;
  return { field: 1, multiplier: Math.min(Math.max(size, 0), MAX_PAGE_SIZE) };
};

export const complexityError: ComplexityErrorFn = (kind, result) => {
  const key = kind.toLowerCase() as 'complexity' | 'depth' | 'breadth';
  const actual = result[key];
  const max = result[`max${kind}` as 'maxComplexity' | 'maxDepth' | 'maxBreadth'];
  return new GraphQLError(
    `Query ${key} ${actual} exceeds the limit of ${max}: request fewer items per page (first), fewer nested connections, or split the query.`,
    { extensions: { code: 'QUERY_TOO_COMPLEX', [key]: actual, limit: max } },
  );
};
