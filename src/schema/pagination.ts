import { GraphQLError } from 'graphql';
import { resolveOffsetConnection, type DefaultConnectionArguments } from '@pothos/plugin-relay';
import type { Model, QueryFilter, SortOrder } from 'mongoose';
import type { ObjectRef } from '@pothos/core';
import { builder, type BuilderTypes } from './builder.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './limits.ts';

export function assertPageSize(args: DefaultConnectionArguments): void {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value !== null && value !== undefined && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw new GraphQLError(`"${name}" must be between 0 and ${MAX_PAGE_SIZE}; page through larger lists with "after".`, {
        extensions: { code: 'BAD_USER_INPUT', argument: name },
      });
    }
  }
}

/**
 * One page of a MongoDB query as a Relay connection. Cursors are offsets (documented in the
 * README); totalCount is a thunk so the count query runs only when the field is selected.
 */
export async function paginate<T>(
  model: Model<T>,
  filter: QueryFilter<T>,
  sort: Record<string, SortOrder>,
  args: DefaultConnectionArguments,
) {
  assertPageSize(args);
  const connection = await resolveOffsetConnection(
    { args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE },
    ({ offset, limit }) =>
      model
        .find(filter)
        .sort({ ...sort, _id: -1 })
        .skip(offset)
        .limit(limit)
        .lean<T[]>()
        .exec(),
  );
  return { ...connection, totalCount: () => model.countDocuments(filter).exec() };
}

/** One connection type per node type, shared by every field that lists it. */
export function connectionType<T extends object>(type: ObjectRef<BuilderTypes, T>, typeName: string, plural: string) {
  return builder.connectionObject(
    { type, name: `${typeName}Connection`, description: `A page of ${plural}.` },
    { name: `${typeName}Edge`, description: `One of the ${plural} in a page, with its cursor.` },
  );
}

builder.globalConnectionField('totalCount', (t) =>
  t.int({
    description: 'The number of items in the whole list, across all pages (counted only when selected).',
    resolve: (connection) => (connection as { totalCount?: () => Promise<number> }).totalCount?.() ?? 0,
  }),
);
