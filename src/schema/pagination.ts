import { GraphQLError } from 'graphql';
import { resolveOffsetConnection, type DefaultConnectionArguments } from '@pothos/plugin-relay';
import type { ObjectRef } from '@pothos/core';
import type { Listing } from '../core/listing.ts';
import { builder, type BuilderTypes } from './builder.ts';
import { shown } from './ids.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './limits.ts';

const CURSOR = /^OffsetConnection:(0|[1-9]\d{0,8})$/;
/** The deepest a cursor may point; offset paging that far is already slow (see the README). */
export const MAX_CURSOR_OFFSET = 1_000_000;

/** The offset inside a cursor, or null when the string is not one of our cursors (never throws). */
export function cursorOffset(cursor: string): number | null {
  if (cursor.length > 64) return null;
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  const match = Buffer.from(text, 'utf8').toString('base64') === cursor ? CURSOR.exec(text) : null;
  const offset = match ? Number(match[1]) : null;
  return offset !== null && offset <= MAX_CURSOR_OFFSET ? offset : null;
}

function badArgument(argument: string, message: string): GraphQLError {
  return new GraphQLError(`${argument}: ${message}`, { extensions: { code: 'BAD_USER_INPUT', argument } });
}

/** Page sizes within bounds and cursors that are ours, else BAD_USER_INPUT naming the argument. */
export function assertConnectionArgs(args: DefaultConnectionArguments): void {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value !== null && value !== undefined && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw new GraphQLError(`"${name}" must be between 0 and ${MAX_PAGE_SIZE}; page through larger lists with "after".`, {
        extensions: { code: 'BAD_USER_INPUT', argument: name },
      });
    }
  }
  for (const name of ['after', 'before'] as const) {
    const cursor = args[name];
    // An empty cursor means none, as Pothos reads it.
    if (cursor && cursorOffset(cursor) === null) {
      throw badArgument(
        name,
        `${shown(cursor)} is not a cursor of this API, or points past item ${MAX_CURSOR_OFFSET}; pass a cursor from a previous page (an edge's cursor, pageInfo.startCursor or endCursor) unchanged.`,
      );
    }
  }
}

/** One page of a core Listing as a Relay connection (offset cursors, totalCount counted only when selected). */
export async function paginateListing<T>(list: Listing<T>, args: DefaultConnectionArguments) {
  assertConnectionArgs(args);
  const connection = await resolveOffsetConnection(
    { args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE },
    ({ offset, limit }) => list.slice(offset, limit),
  );
  return { ...connection, totalCount: () => list.count() };
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
