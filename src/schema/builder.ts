import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type { Access, Resource } from '../rules/permissions.ts';
import type { AuthenticatedKey } from '../auth/authenticate.ts';
import type { Context } from '../context.ts';
import { authScopesFor, unauthorizedError } from './auth-scopes.ts';
import { complexityError, fieldComplexity } from './complexity.ts';
import { decodeNodeId } from './ids.ts';
import { COMPLEXITY_LIMITS } from './limits.ts';

export interface AccessScope {
  resource: Resource;
  level: Access;
}

export interface WorkspaceRoleScope extends AccessScope {
  workspaceId: string;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  DefaultAuthStrategy: 'all';
  /** What a field guarded with t.withAuth({ authenticated: true }) may rely on: a key. */
  AuthContexts: { authenticated: Context & { key: AuthenticatedKey } };
  AuthScopes: {
    /** Any valid key. */
    authenticated: boolean;
    /** Key management: READ lists the user's keys, WRITE creates and changes them. */
    keys: 'READ' | 'WRITE';
    /** The key's own access to a resource, before any workspace role. */
    access: AccessScope;
    /** The user's role in a workspace allows `level` on `resource` (invisible workspaces pass: the resolver answers NOT_FOUND). */
    workspaceRole: WorkspaceRoleScope;
    /** The key may see this workspace: the user is a member and the key is not restricted away from it. */
    visibleWorkspace: string;
    /** A list narrowed to this workspace (null: not narrowed): the key complies with its key policy, or cannot see it. */
    compliantWorkspace: string | null;
    /** The key is not restricted to some workspaces (only such a key may create workspaces). */
    unrestrictedKey: boolean;
  };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
    /** Any JSON value (the variables of a document given to `authorize`). */
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  defaultFieldNullability: false,
  plugins: [ScopeAuthPlugin, ComplexityPlugin, ErrorsPlugin, RelayPlugin, DataloaderPlugin],
  scopeAuth: {
    defaultStrategy: 'all',
    authScopes: authScopesFor,
    unauthorizedError,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodesQueryOptions: false,
    // node(id:) tags what it loads with the type named in the id, so the Node interface resolves by
    // who loaded an object, never by which fields it has (node types have no isTypeOf).
    brandLoadedObjects: true,
    // A malformed node id is BAD_USER_INPUT naming `id`, like every other id argument.
    decodeGlobalID: decodeNodeId,
    nodeQueryOptions: {
      description: 'Fetches any object by its global id; objects the key may not see answer null, exactly like ids that do not exist.',
      args: { id: { description: 'The global id of the object.' } },
    },
    nodeTypeOptions: { description: 'An object with a global id, fetchable with `node(id:)`.' },
    idFieldOptions: { description: 'The global id of this object.' },
    pageInfoTypeOptions: { description: 'Where a page of a connection sits in the whole list.' },
    hasNextPageFieldOptions: { description: 'True when more items follow this page.' },
    hasPreviousPageFieldOptions: { description: 'True when items precede this page.' },
    startCursorFieldOptions: { description: 'The cursor of the first item of this page.' },
    endCursorFieldOptions: { description: 'The cursor of the last item of this page; pass it as `after` for the next page.' },
    cursorFieldOptions: { description: 'An opaque cursor for this item.' },
    nodeFieldOptions: { description: 'The item.' },
    edgesFieldOptions: { description: 'The items of this page with their cursors.' },
    pageInfoFieldOptions: { description: 'Paging information.' },
    firstArgOptions: { description: 'How many items to return after `after` (1 to 100, default 20).' },
    afterArgOptions: { description: 'Return items after this cursor.' },
    lastArgOptions: { description: 'How many items to return before `before` (1 to 100).' },
    beforeArgOptions: { description: 'Return items before this cursor.' },
  },
  errors: { defaultTypes: [] },
  complexity: {
    defaultComplexity: 1,
    // Plain lists here are short (scopes, tags, breakdowns); connections multiply by their page size.
    defaultListMultiplier: 1,
    fieldComplexity,
    limit: COMPLEXITY_LIMITS,
    complexityError,
  },
});

/** The builder's type parameters, for helpers that take Pothos refs. */
export type BuilderTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2})))?$/;
const DATE_TIME_FORMAT = 'DateTime must be an ISO 8601 string such as 2026-01-31T12:00:00Z';

/**
 * Parsed field by field rather than by `new Date`, which rolls impossible dates over
 * (2027-02-30 would become March 2) and accepts many non-ISO spellings.
 */
export function parseDateTime(value: unknown): Date {
  const match = typeof value === 'string' ? DATE_TIME.exec(value) : null;
  if (!match) throw new TypeError(DATE_TIME_FORMAT);
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', , sign, oh = '0', om = '0'] = match;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeapYear(year) ? 1 : 0);
  const problem =
    month < 1 || month > 12 ? 'the month must be 01 to 12'
    : day < 1 || day > daysInMonth ? `day ${d} does not exist in ${y}-${mo}`
    : hour > 23 ? 'the hour must be 00 to 23'
    : minute > 59 ? 'the minutes must be 00 to 59'
    : second > 59 ? 'the seconds must be 00 to 59'
    : Number(oh) > 23 || Number(om) > 59 ? 'the UTC offset must be -23:59 to +23:59'
    : null;
  if (problem) throw new TypeError(`"${value as string}" is not a valid date: ${problem}`);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // unlike Date.UTC, keeps years 0–99 as written
  date.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, '0')));
  const offsetMinutes = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  return new Date(date.getTime() - offsetMinutes * 60_000);
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

builder.scalarType('DateTime', {
  description: 'An instant in time, as an ISO 8601 string in UTC (e.g. 2026-01-31T12:00:00.000Z).',
  serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
  parseValue: parseDateTime,
});

builder.queryType({ description: 'Everything a key can read. Every field needs a valid API key unless noted.' });
builder.mutationType({ description: 'Everything a key can change. Each mutation takes one `input` argument.' });
