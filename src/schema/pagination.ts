import { GraphQLError } from 'graphql';
import type { DefaultConnectionArguments } from '@pothos/plugin-relay';
import type { ObjectRef } from '@pothos/core';
import { Types } from 'mongoose';
import type { Listing, ListOrder, Position } from '../core/listing.ts';
import { builder, type BuilderTypes } from './builder.ts';
import { shown } from './ids.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './limits.ts';

// A cursor is base64url of "k1|<list and order>|<sort value>|<id>": the position of a row, so a
// page starts right after it however many rows were added or removed elsewhere meanwhile.
const VERSION = 'k1';
const MAX_CURSOR_LENGTH = 200;
const HEX_ID = /^[0-9a-f]{24}$/;
const INTEGER = /^-?(0|[1-9]\d{0,15})$/;
/** The largest date a JavaScript Date holds, in milliseconds from 1970. */
const MAX_TIME = 8.64e15;

/** The cursor of a row at `position` in the list ordered by `order`. */
export function encodeCursor(order: ListOrder, position: Position): string {
  const { value } = position;
  const text = value === null ? '' : String(value instanceof Date ? value.getTime() : value);
  return Buffer.from([VERSION, order.key, text, String(position.id)].join('|'), 'utf8').toString('base64url');
}

export type DecodedCursor = { position: Position } | { refused: 'malformed' | 'offset' | 'otherList' };

/** The position inside a cursor of this list and order, or why it is refused (never throws). */
export function decodeCursor(cursor: string, order: ListOrder): DecodedCursor {
  if (cursor.length > MAX_CURSOR_LENGTH) return { refused: 'malformed' };
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  // Cursors of the earlier offset paging: standard base64 of "OffsetConnection:<n>".
  if (/^OffsetConnection:\d+$/.test(Buffer.from(cursor, 'base64').toString('utf8'))) return { refused: 'offset' };
  // One spelling per position: anything that does not encode back to itself is not ours.
  if (Buffer.from(text, 'utf8').toString('base64url') !== cursor) return { refused: 'malformed' };
  const parts = text.split('|');
  if (parts.length !== 4 || parts[0] !== VERSION || !HEX_ID.test(parts[3]!)) return { refused: 'malformed' };
  const value = parseValue(parts[2]!, order.type);
  if (value === undefined) return { refused: 'malformed' };
  if (parts[1] !== order.key) return { refused: 'otherList' };
  return { position: { value, id: new Types.ObjectId(parts[3]!) } };
}

/** A sort value as written by encodeCursor, or undefined when it is not one. */
function parseValue(text: string, type: ListOrder['type']): Position['value'] | undefined {
  if (text === '') return null;
  if (type === 'date') return INTEGER.test(text) && Math.abs(Number(text)) <= MAX_TIME ? new Date(Number(text)) : undefined;
  const number = Number(text);
  return Number.isFinite(number) && String(number) === text ? number : undefined;
}

function badArgument(argument: string, message: string): GraphQLError {
  return new GraphQLError(`${argument}: ${message}`, { extensions: { code: 'BAD_USER_INPUT', argument } });
}

const REFUSALS = {
  malformed: (cursor: string) =>
    `${shown(cursor)} is not a cursor of this API; pass a cursor from a previous page (an edge's cursor, pageInfo.startCursor or endCursor) unchanged.`,
  offset: (cursor: string, argument: string) =>
    `${shown(cursor)} is an offset cursor of an earlier version of this API, which pages by position now; start again without "${argument}" and use the cursors that page returns.`,
  otherList: (cursor: string) =>
    `${shown(cursor)} is a cursor of another list or sort order; pass a cursor from a page of this same list, with the same orderBy.`,
};

/** The position a cursor argument points at, else BAD_USER_INPUT naming the argument. */
function cursorArgument(cursor: string, order: ListOrder, argument: 'after' | 'before'): Position {
  const decoded = decodeCursor(cursor, order);
  if ('refused' in decoded) throw badArgument(argument, REFUSALS[decoded.refused](cursor, argument));
  return decoded.position;
}

/** The page size asked for, within bounds, else BAD_USER_INPUT naming the argument. */
function pageSize(args: DefaultConnectionArguments): number {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value !== null && value !== undefined && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw new GraphQLError(`"${name}" must be between 0 and ${MAX_PAGE_SIZE}; page through larger lists with "after".`, {
        extensions: { code: 'BAD_USER_INPUT', argument: name },
      });
    }
  }
  return args.first ?? args.last ?? DEFAULT_PAGE_SIZE;
}

/**
 * One page of a core Listing as a Relay connection. `first` reads forward from `after` (or the
 * start), `last` backward from `before` (or the end); both cursors bound the page. Arguments are
 * checked at once; the rows are read only when edges or pageInfo are selected, totalCount only
 * when it is, and the pageInfo flag beyond the requested cursor (one more indexed read) only
 * when that flag is: so pageInfo is exact, never a guess.
 */
export function paginateListing<T>(list: Listing<T>, args: DefaultConnectionArguments) {
  const size = pageSize(args);
  // An empty cursor means none, as Relay clients send it.
  const after = args.after ? cursorArgument(args.after, list.order, 'after') : null;
  const before = args.before ? cursorArgument(args.before, list.order, 'before') : null;
  const backward = (args.first === null || args.first === undefined) && ((args.last !== null && args.last !== undefined) || (!!before && !after));
  let page: Promise<{ edges: { cursor: string; node: T }[]; pageInfo: object }> | undefined;
  const load = () =>
    (page ??= list.page({ after, before, limit: size + 1, backward }).then((rows) => {
      // One row more than asked tells whether another page follows (precedes, backward).
      const more = rows.length > size;
      const nodes = rows.slice(0, size);
      if (backward) nodes.reverse();
      const edges = nodes.map((node) => ({ cursor: encodeCursor(list.order, list.positionOf(node)), node }));
      const pageInfo = {
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
        get hasNextPage() {
          return backward ? !!before && list.reaches(before, 'after') : more;
        },
        get hasPreviousPage() {
          return backward ? more : !!after && list.reaches(after, 'before');
        },
      };
      return { edges, pageInfo };
    }));
  const connection = {
    get edges() {
      return load().then((loaded) => loaded.edges);
    },
    get pageInfo() {
      return load().then((loaded) => loaded.pageInfo);
    },
    totalCount: () => list.count(),
  };
  // graphql-js awaits a field's promise wherever it is; Pothos' type of the shape has plain values.
  type PageInfo = { startCursor: string | null; endCursor: string | null; hasNextPage: boolean; hasPreviousPage: boolean };
  return connection as unknown as { edges: { cursor: string; node: T }[]; pageInfo: PageInfo; totalCount: () => Promise<number> };
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
