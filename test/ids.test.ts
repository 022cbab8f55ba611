import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLOutputType,
} from 'graphql';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Domain } from '../src/models/domain.ts';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import { InvalidIdError, NODE_TYPENAMES, parseIdArg, toGlobalId } from '../src/schema/ids.ts';
import { schema } from '../src/schema/index.ts';
import type { ListOrder } from '../src/core/listing.ts';
import { decodeCursor, encodeCursor } from '../src/schema/pagination.ts';
import { createTestApp, gid, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
let key: string;
/** Global ids of the caller's own objects, by type name. */
const own: Record<string, string> = {};

const b64 = (text: string) => Buffer.from(text).toString('base64');
const b64url = (text: string) => Buffer.from(text).toString('base64url');

const newest = (list: string): ListOrder => ({ key: `${list}.createdAt.-1`, field: 'createdAt', direction: -1, type: 'date' });
/** The order of each connection type (as its field lists it without orderBy): its cursors name it. */
const ORDERS: Record<string, ListOrder> = {
  LinkConnection: newest('link'),
  DomainConnection: newest('domain'),
  ProjectConnection: newest('project'),
  ApiKeyConnection: newest('apiKey'),
  WorkspaceConnection: newest('workspace'),
  WorkspaceInvitationConnection: newest('invitation'),
  WorkspaceMemberConnection: { key: 'member.createdAt.1', field: 'createdAt', direction: 1, type: 'date' },
  AuditEventConnection: newest('auditEvent'),
};
const BY_CLICKS: ListOrder = { key: 'link.clicks.-1', field: 'clicks', direction: -1, type: 'number' };
/** A position in a list: a date (or a number, for clicks) or null, and an id. */
const position = (order: ListOrder) =>
  fc.record({
    value: fc.oneof(
      fc.constant(null),
      order.type === 'date' ? fc.date({ noInvalidDate: true }) : fc.integer(),
    ),
    id: hex,
  }).map(({ value, id }) => ({ value, id: new Types.ObjectId(id) }));
const hex24 = () => randomBytes(12).toString('hex');

beforeAll(async () => {
  // The property runs send well over the default 600 requests a minute.
  t = createTestApp(db(), { RATE_LIMIT_PER_MINUTE: '1000000' }, { txtResolver: async () => [] });
  const alice = await makeUser('alice');
  const workspace = await makeWorkspace(alice, 'own');
  const created = await makeKey(alice, 'FULL');
  key = created.secret;
  const project = await Project.create({ workspaceId: workspace._id, name: 'p' });
  const hostname = `d${hex24().slice(0, 8)}.example.com`;
  const domain = await Domain.create({ workspaceId: workspace._id, hostname, verified: true, verificationToken: 't' });
  const link = await Link.create({ workspaceId: workspace._id, domain: hostname, slug: 's1', url: 'https://example.com/', projectId: project._id, createdByUserId: alice._id });
  Object.assign(own, {
    Workspace: gid('Workspace', workspace._id),
    Project: gid('Project', project._id),
    Link: gid('Link', link._id),
    Domain: gid('Domain', domain._id),
    ApiKey: created.globalId,
    User: gid('User', alice._id),
  });
});
afterAll(() => t.close());

type Body = { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, any> }[] };

/** A query field refused the argument: one BAD_USER_INPUT error naming it, with a message saying what a valid value is. */
function expectBadArgument(body: Body, argument: string) {
  expect(body.errors, JSON.stringify(body)).toHaveLength(1);
  const [error] = body.errors!;
  expect(error!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument });
  expect(error!.message).toContain(`${argument}:`);
}

describe('malformed ids and cursors of queries answer BAD_USER_INPUT naming the argument', () => {
  const cases: [string, string, Record<string, unknown>, string][] = [
    ['node with a non-hex inner part', 'query($id: ID!) { node(id: $id) { id } }', { id: b64('Link:zzz') }, 'id'],
    ['node with an unknown type name', 'query($id: ID!) { node(id: $id) { id } }', { id: b64(`Nope:${'a'.repeat(24)}`) }, 'id'],
    ['node with a type that is not a node', 'query($id: ID!) { node(id: $id) { id } }', { id: b64(`User:${'a'.repeat(24)}`) }, 'id'],
    ['node with plain text', 'query($id: ID!) { node(id: $id) { id } }', { id: 'hello' }, 'id'],
    ['link with a short inner part', 'query($id: ID!) { link(id: $id) { id } }', { id: b64('Link:123') }, 'id'],
    ['workspace with a link id', 'query($id: ID!) { workspace(id: $id) { id } }', { id: b64(`Link:${'b'.repeat(24)}`) }, 'id'],
    ['linkStats with text', 'query($id: ID!) { linkStats(linkId: $id) { __typename } }', { id: 'not-an-id' }, 'linkId'],
    ['linkStats with a workspace id', 'query($id: ID!) { linkStats(linkId: $id) { __typename } }', { id: b64(`Workspace:${'c'.repeat(24)}`) }, 'linkId'],
    ['links filtered by a malformed project', 'query($id: ID!) { links(filter: { projectId: $id }) { totalCount } }', { id: 'zz' }, 'filter.projectId'],
    ['projects of a malformed workspace', 'query($id: ID) { projects(workspaceId: $id) { totalCount } }', { id: b64('Workspace:1') }, 'workspaceId'],
    ['a negative after cursor', 'query($c: String) { links(after: $c) { totalCount } }', { c: b64('OffsetConnection:-5') }, 'after'],
    ['an oversized before cursor', 'query($c: String) { apiKeys(before: $c, last: 2) { totalCount } }', { c: b64('OffsetConnection:99999999999999999999') }, 'before'],
    ['a cursor that is not an offset', 'query($c: String) { workspaces(after: $c) { totalCount } }', { c: b64('OffsetConnection:abc') }, 'after'],
    ['a cursor that is not base64', 'query($c: String) { domains(after: $c) { totalCount } }', { c: '%%%' }, 'after'],
  ];
  it.each(cases)('%s', async (_label, document, variables, argument) => {
    const result = await gql(t.app, document, variables, { key });
    expect(result.status).toBe(200);
    expectBadArgument(result.body, argument);
  });

  it('a nested connection cursor is checked too', async () => {
    const result = await gql(t.app, 'query($id: ID!, $c: String) { workspace(id: $id) { members(after: $c) { totalCount } } }', { id: own.Workspace, c: b64('OffsetConnection:-1') }, { key });
    expectBadArgument(result.body, 'after');
  });

  it('says what is wrong and what a valid value looks like', async () => {
    const wrongType = await gql(t.app, 'query($id: ID!) { workspace(id: $id) { id } }', { id: own.Link }, { key });
    expect(wrongType.body.errors![0]!.message).toBe(`id: "${own.Link}" is a Link id, not a Workspace id; use the id field of a Workspace.`);
    const huge = 'x'.repeat(100_000);
    const long = await gql(t.app, 'query($id: ID!) { link(id: $id) { id } }', { id: huge }, { key });
    expectBadArgument(long.body, 'id');
    expect(long.body.errors![0]!.message.length).toBeLessThan(300);
  });
});

describe('malformed ids of mutations answer a ValidationError naming the input field', () => {
  const m = (field: string, inputType: string) =>
    `mutation($input: ${inputType}!) { ${field}(input: $input) { __typename ... on Error { code message } ... on ValidationError { field } } }`;
  const cases: [string, string, () => Record<string, unknown>, string][] = [
    ['updateLink', 'UpdateLinkInput', () => ({ id: 'garbage', title: 't' }), 'input.id'],
    ['updateLink', 'UpdateLinkInput', () => ({ id: own.Link, projectId: own.Domain }), 'input.projectId'],
    ['deleteLink', 'LinkIdInput', () => ({ id: b64('Link:12') }), 'input.id'],
    ['createLink', 'CreateLinkInput', () => ({ workspaceId: own.Project, url: 'https://example.com/' }), 'input.workspaceId'],
    ['deleteWorkspace', 'WorkspaceIdInput', () => ({ id: 'nope' }), 'input.id'],
    ['deleteProject', 'ProjectIdInput', () => ({ id: own.Link }), 'input.id'],
    ['verifyDomain', 'DomainIdInput', () => ({ id: '' }), 'input.id'],
    ['deleteDomain', 'DeleteDomainInput', () => ({ id: '🙂' }), 'input.id'],
    ['deactivateApiKey', 'ApiKeyIdInput', () => ({ id: 'x' }), 'input.id'],
    ['createApiKey', 'CreateApiKeyInput', () => ({ name: 'k', permission: 'READ_ONLY', workspaceIds: [own.Workspace, 'bad'] }), 'input.workspaceIds.1'],
    ['removeWorkspaceMember', 'RemoveWorkspaceMemberInput', () => ({ workspaceId: own.Workspace, userId: own.Link }), 'input.userId'],
  ];
  it.each(cases)('%s %s', async (field, inputType, input, path) => {
    const result = await gql(t.app, m(field, inputType), { input: input() }, { key });
    expect(result.status).toBe(200);
    expect(result.body.errors, JSON.stringify(result.body)).toBeUndefined();
    expect(result.body.data[field]).toMatchObject({ __typename: 'ValidationError', code: 'BAD_USER_INPUT', field: path });
    expect(result.body.data[field].message).toContain(`${path}:`);
  });
});

describe('well-formed ids of objects that do not exist answer as before', () => {
  it('null for queries, NotFoundError for mutations, an empty list for list filters', async () => {
    const ghost = (type: string) => gid(type, hex24());
    const query = await gql(
      t.app,
      'query($l: ID!, $w: ID!, $n: ID!, $p: ID!) { link(id: $l) { id } linkStats(linkId: $l) { __typename } workspace(id: $w) { id } node(id: $n) { id } links(filter: { projectId: $p }) { totalCount } projects(workspaceId: $w) { totalCount } }',
      { l: ghost('Link'), w: ghost('Workspace'), n: ghost('Domain'), p: ghost('Project') },
      { key },
    );
    expect(query.body).toEqual({ data: { link: null, linkStats: null, workspace: null, node: null, links: { totalCount: 0 }, projects: { totalCount: 0 } } });
    const mutation = await gql(t.app, 'mutation($input: LinkIdInput!) { deleteLink(input: $input) { __typename } }', { input: { id: ghost('Link') } }, { key });
    expect(mutation.body).toEqual({ data: { deleteLink: { __typename: 'NotFoundError' } } });
  });

  it('a valid cursor past the end gives an empty page', async () => {
    // Newest first: nothing comes after a link created at 1970-01-01.
    const end = encodeCursor(ORDERS.LinkConnection!, { value: new Date(0), id: new Types.ObjectId('000000000000000000000000') });
    const result = await gql(t.app, 'query($c: String) { links(after: $c) { edges { cursor } pageInfo { hasNextPage hasPreviousPage } } }', { c: end }, { key });
    expect(result.body).toEqual({ data: { links: { edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: true } } } });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties. The parser first, then every id and cursor argument the schema has, found by
// walking it, so a field added later is covered without touching this file.

const TYPE_NAMES = [...NODE_TYPENAMES, 'User'];
const anyText = fc.string({ unit: 'binary', maxLength: 80 });
const typeName = fc.oneof(fc.constantFrom(...TYPE_NAMES, 'Nope', 'OffsetConnection', 'Query'), fc.string({ maxLength: 12 }));
const junk = fc.oneof(anyText, fc.stringMatching(/^[0-9a-fA-F]{0,30}$/), fc.constant(''));
const hex = fc.stringMatching(/^[0-9a-f]{24}$/);

describe('the id parser', () => {
  it('any string is either a canonical id of the wanted type or an InvalidIdError naming the argument', () => {
    const candidates = fc.oneof(anyText, fc.tuple(typeName, junk).map(([type, inner]) => b64(`${type}:${inner}`)), hex.map((h) => toGlobalId('Link', h)));
    fc.assert(
      fc.property(candidates, fc.constantFrom('Link', null), (value, wanted) => {
        try {
          if (wanted) {
            expect(toGlobalId(wanted, parseIdArg(value, wanted, 'input.id'))).toBe(value);
          } else {
            const { typename, id } = parseIdArg(value, null, 'input.id');
            expect(toGlobalId(typename, id)).toBe(value);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidIdError);
          expect((error as InvalidIdError).field).toBe('input.id');
          expect((error as Error).message).toMatch(/^input\.id: ".*" .+; use the id field of an? /s);
          expect((error as Error).message.length).toBeLessThan(300);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('every global id it hands out parses back, for every node type', () => {
    fc.assert(
      fc.property(fc.constantFrom(...NODE_TYPENAMES), hex, (type, h) => {
        expect(String(parseIdArg(toGlobalId(type, h), type, 'id'))).toBe(h);
        expect(parseIdArg(toGlobalId(type, h), null, 'id').typename).toBe(type);
      }),
    );
  });

  it('NODE_TYPENAMES are exactly the types node(id:) can return', () => {
    const node = schema.getType('Node');
    expect(isInterfaceType(node)).toBe(true);
    expect(schema.getPossibleTypes(node as any).map((type) => type.name).sort()).toEqual([...NODE_TYPENAMES].sort());
  });

  it('a cursor is a position of its own list and order, in the exact form this API hands out, or refused', () => {
    const order = ORDERS.LinkConnection!;
    const payloads = fc
      .tuple(fc.constantFrom('k1', 'k2', ''), fc.constantFrom(order.key, BY_CLICKS.key, 'member.createdAt.1', ''), fc.oneof(junk, fc.integer().map(String), fc.constant('')), fc.oneof(hex, junk))
      .map((parts) => parts.join('|'));
    const cursors = fc.oneof(anyText, payloads.map(b64url), payloads.map(b64), fc.oneof(fc.integer(), fc.bigInt(), junk).map((n) => b64(`OffsetConnection:${n}`)));
    fc.assert(
      fc.property(cursors, (cursor) => {
        const decoded = decodeCursor(cursor, order);
        if ('position' in decoded) expect(encodeCursor(order, decoded.position)).toBe(cursor);
      }),
      { numRuns: 2000 },
    );
    for (const o of [order, BY_CLICKS]) {
      fc.assert(
        fc.property(position(o), (p) => {
          expect(decodeCursor(encodeCursor(o, p), o)).toEqual({ position: p });
        }),
        { numRuns: 200 },
      );
    }
    expect(decodeCursor(b64('OffsetConnection:20'), order)).toEqual({ refused: 'offset' });
    expect(decodeCursor(encodeCursor(BY_CLICKS, { value: 3, id: new Types.ObjectId() }), order)).toEqual({ refused: 'otherList' });
  });
});

/** One argument (or input field) to attack: an id, or a connection cursor. */
interface ArgTarget {
  label: string;
  kind: 'id' | 'cursor';
  /** The argument path as errors name it, e.g. `input.workspaceIds.0`. */
  path: string;
  /** The type of object the id should name; null for node(id:) (any node); undefined when unknown. */
  typename: string | null | undefined;
  /** A document and its variables with `value` in the attacked place. */
  request(value: string): { document: string; variables: Record<string, unknown> };
  /** The attacked field's answer in the response data. */
  answer(data: Record<string, any>): any;
  /** Mutations answer input errors with their ValidationError member; queries with a GraphQL error. */
  mutation: boolean;
  /** For a cursor: the order of its list, which a valid cursor names. */
  order?: ListOrder;
}

const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** The object type an id argument names, guessed from its name and where it sits. */
function idTypeOf(name: string, holder: string): string | null | undefined {
  const guess = name === 'id'
    ? holder === 'node' ? null : capitalize(holder.replace(/^(Create|Update|Delete|Rotate|Add|Remove|Verify|Deactivate|Accept|Decline|Revoke|Resend)(?=[A-Z])/, '').replace(/(IdInput|Input)$/, ''))
    : capitalize(name.replace(/Ids?$/, ''));
  if (guess === null) return null;
  if (isObjectType(schema.getType(guess))) return guess;
  // e.g. invitationId names a WorkspaceInvitation
  const endings = Object.values(schema.getTypeMap()).filter((type) => isObjectType(type) && type.name.endsWith(guess));
  return endings.length === 1 ? endings[0]!.name : undefined;
}

/** A plausible value for an input type: valid ids of the caller's own objects, required input fields only. */
function plausible(type: GraphQLInputType, name: string, holder: string): unknown {
  const inner = getNullableType(type) as GraphQLInputType;
  if (isListType(inner)) return [plausible(inner.ofType, name, holder)];
  if (isInputObjectType(inner)) {
    return Object.fromEntries(
      Object.values(inner.getFields())
        .filter((field) => isNonNullType(field.type))
        .map((field) => [field.name, plausible(field.type, field.name, inner.name)]),
    );
  }
  if (isEnumType(inner)) return inner.getValues()[0]!.name;
  switch ((inner as { name: string }).name) {
    case 'ID': {
      const typename = idTypeOf(name, holder);
      return (typename && own[typename]) ?? own.Workspace;
    }
    case 'Int':
    case 'Float':
      return 1;
    case 'Boolean':
      return false;
    case 'DateTime':
      return new Date(Date.now() + 86_400_000).toISOString();
    default:
      if (/url/i.test(name)) return 'https://example.com/x';
      if (/host/i.test(name)) return `h${hex24().slice(0, 10)}.example.com`;
      if (/email/i.test(name)) return `x${hex24().slice(0, 6)}@example.com`;
      return `x${hex24().slice(0, 6)}`;
  }
}

/** A selection that is valid for any result type and shows errors of result unions. */
function selectionOf(type: GraphQLOutputType): string {
  const named = getNamedType(type);
  if (isScalarType(named) || isEnumType(named)) return '';
  if (isUnionType(named)) {
    const members = named.getTypes();
    const errors = members.some((member) => member.getInterfaces().some((i) => i.name === 'Error')) ? ' ... on Error { code message }' : '';
    const validation = members.some((member) => member.name === 'ValidationError') ? ' ... on ValidationError { field }' : '';
    return `{ __typename${errors}${validation} }`;
  }
  return '{ __typename }';
}

/**
 * Every place of `field`'s arguments to attack: ID arguments and input fields (in lists and nested
 * input objects) and the `after`/`before` cursors. `wrap` puts the field call into a document.
 */
function targetsOf(
  field: GraphQLField<unknown, unknown>,
  mutation: boolean,
  wrap: (call: string, varDefs: string[]) => string,
  answer: (data: Record<string, any>) => any,
  extraVariables: () => Record<string, unknown> = () => ({}),
): ArgTarget[] {
  const found: ArgTarget[] = [];
  const visit = (arg: GraphQLArgument, type: GraphQLInputType, path: string[], holder: string, seen: Set<string>) => {
    const inner = getNullableType(type) as GraphQLInputType;
    const list = isListType(inner);
    const named = getNamedType(type);
    const name = path[path.length - 1]!;
    if (named.name === 'ID' || (path.length === 1 && named.name === 'String' && (name === 'after' || name === 'before'))) {
      const fullPath = list ? [...path, '0'] : path;
      found.push({
        label: `${mutation ? 'mutation' : 'query'} ${field.name}(${fullPath.join('.')})`,
        kind: named.name === 'ID' ? 'id' : 'cursor',
        path: fullPath.join('.'),
        typename: named.name === 'ID' ? idTypeOf(name, holder) : undefined,
        mutation,
        order: ORDERS[getNamedType(field.type).name],
        answer,
        request: (value) => {
          // Put the value at `path`, every other required argument or field plausible.
          const place = (current: GraphQLInputType, rest: string[], currentName: string, currentHolder: string): unknown => {
            const nullable = getNullableType(current) as GraphQLInputType;
            if (rest.length === 0) return isListType(nullable) ? [value] : value;
            const base = plausible(current, currentName, currentHolder) as Record<string, unknown>;
            const objectType = getNamedType(nullable);
            if (!isInputObjectType(objectType)) throw new Error(`cannot descend into ${objectType.name}`);
            const child = objectType.getFields()[rest[0]!]!;
            const placed = place(child.type, rest.slice(1), child.name, objectType.name);
            return isListType(nullable) ? [{ ...(base as any)[0], [child.name]: placed }] : { ...base, [child.name]: placed };
          };
          const variables: Record<string, unknown> = extraVariables();
          const varDefs: string[] = [];
          const args: string[] = [];
          for (const other of field.args) {
            if (other.name !== arg.name && !isNonNullType(other.type)) continue;
            const variable = `a_${other.name}`;
            varDefs.push(`$${variable}: ${String(other.type)}`);
            args.push(`${other.name}: $${variable}`);
            variables[variable] = other.name === arg.name ? place(other.type, path.slice(1), other.name, field.name) : plausible(other.type, other.name, field.name);
          }
          const call = `${field.name}${args.length ? `(${args.join(', ')})` : ''} ${selectionOf(field.type)}`;
          return { document: wrap(call, varDefs), variables };
        },
      });
      return;
    }
    if (isInputObjectType(named) && !seen.has(named.name)) {
      for (const child of Object.values(named.getFields())) visit(arg, child.type, [...path, child.name], named.name, new Set([...seen, named.name]));
    }
  };
  for (const arg of field.args) visit(arg, arg.type, [arg.name], field.name, new Set());
  return found;
}

function allTargets(): ArgTarget[] {
  const targets: ArgTarget[] = [];
  for (const [root, mutation] of [[schema.getQueryType()!, false], [schema.getMutationType()!, true]] as const) {
    for (const field of Object.values(root.getFields())) {
      const wrap = (call: string, varDefs: string[]) => `${mutation ? 'mutation' : 'query'}${varDefs.length ? `(${varDefs.join(', ')})` : ''} { ${call} }`;
      targets.push(...targetsOf(field, mutation, wrap, (data) => data[field.name]));
    }
  }
  // Fields with arguments under an argument-less root object (viewer { … }).
  for (const root of Object.values(schema.getQueryType()!.getFields())) {
    const type = getNullableType(root.type);
    if (root.args.length > 0 || !isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const wrap = (call: string, varDefs: string[]) => `query${varDefs.length ? `(${varDefs.join(', ')})` : ''} { ${root.name} { ${call} } }`;
      const nested = targetsOf(field, false, wrap, (data) => data[root.name]?.[field.name]);
      targets.push(...nested.map((target) => ({ ...target, label: `${root.name}.${target.label.replace(/^query /, '')}` })));
    }
  }
  // Connections nested in node types, reached through node(id:) on one of the caller's objects.
  for (const typename of NODE_TYPENAMES) {
    const type = schema.getType(typename);
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const nested = targetsOf(
        field,
        false,
        (call, varDefs) => `query($node: ID!${varDefs.length ? `, ${varDefs.join(', ')}` : ''}) { node(id: $node) { ... on ${typename} { ${call} } } }`,
        (data) => data.node?.[field.name],
        () => ({ node: own[typename] }),
      );
      targets.push(...nested.map((target) => ({ ...target, label: `${typename}.${target.label.replace(/^query /, '')}` })));
    }
  }
  return targets;
}

/** Values that can never be a valid argument: the answer must name the argument. */
function malformed(target: ArgTarget): fc.Arbitrary<string> {
  const huge = fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1_000, max: 200_000 })).map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n));
  const common = [anyText.filter((s) => s.length > 0), huge, fc.tuple(typeName, junk).map(([type, inner]) => b64(`${type}:${inner}`)).filter((s) => !/^[0-9a-f]{24}$/.test(Buffer.from(s, 'base64').toString().split(':')[1] ?? ''))];
  if (target.kind === 'cursor') {
    const order = target.order!;
    const other = Object.values(ORDERS).find((o) => o.key !== order.key)!;
    const isCursor = (value: string) => 'position' in decodeCursor(value, order);
    return fc.oneof(
      ...common.map((arbitrary) => arbitrary.filter((value) => !isCursor(value))),
      // Offset cursors of the earlier paging, cursors of another list or order, tampered ones.
      fc.nat().map((n) => b64(`OffsetConnection:${n}`)),
      position(other).map((p) => encodeCursor(other, p)),
      position(BY_CLICKS).map((p) => encodeCursor(BY_CLICKS, p)),
      fc.tuple(junk, hex).map(([value, id]) => b64url(`k1|${order.key}|${value}|${id}`)).filter((value) => !isCursor(value)),
      fc.tuple(fc.nat(), junk).map(([value, id]) => b64url(`k1|${order.key}|${value}|${id}`)).filter((value) => !isCursor(value)),
      position(order).map((p) => `${encodeCursor(order, p)}=`),
    );
  }
  const others = TYPE_NAMES.filter((type) => (target.typename === null ? !(NODE_TYPENAMES as readonly string[]).includes(type) : type !== target.typename));
  const wrongType = target.typename === undefined ? [] : [fc.tuple(fc.constantFrom(...others, 'Nope'), hex).map(([type, h]) => toGlobalId(type, h))];
  const badInner = target.typename ? [junk.filter((s) => !/^[0-9a-f]{24}$/.test(s)).map((s) => toGlobalId(target.typename!, s))] : [];
  return fc.oneof(...common, ...wrongType, ...badInner);
}

/** Values of the right shape that name nothing: answered as before (null, NotFoundError, an empty page). */
function wellFormed(target: ArgTarget): fc.Arbitrary<string> | null {
  if (target.kind === 'cursor') {
    const order = target.order!;
    return position(order).map((p) => encodeCursor(order, p));
  }
  if (target.typename === null) return fc.tuple(fc.constantFrom(...NODE_TYPENAMES), hex).map(([type, h]) => toGlobalId(type, h));
  return target.typename ? hex.map((h) => toGlobalId(target.typename!, h)) : null;
}

const targets = allTargets();

describe('every id and cursor argument of the schema', () => {
  it('covers the arguments we know of', () => {
    const paths = targets.map((target) => target.label);
    for (const expected of ['query node(id)', 'query link(id)', 'query links(filter.projectId)', 'query links(after)', 'mutation createApiKey(input.workspaceIds.0)', 'mutation updateLink(input.projectId)', 'Workspace.links(before)']) {
      expect(paths).toContain(expected);
    }
  });

  it.each(targets.map((target) => [target.label, target] as const))('%s', async (_label, target) => {
    const check = (value: string, bad: boolean) => async () => {
      const { document, variables } = target.request(value);
      const result = await gql(t.app, document, variables, { key });
      const context = JSON.stringify({ document, variables, body: result.body }).slice(0, 2000);
      expect(result.status, context).toBe(200);
      expect(result.body.errors?.map((e) => e.extensions?.code) ?? [], context).not.toContain('INTERNAL_SERVER_ERROR');
      const fieldAnswer = target.answer(result.body.data ?? {});
      if (result.body.errors?.length) {
        expect(result.body.errors, context).toHaveLength(1);
        const [error] = result.body.errors;
        expect(error!.extensions, context).toMatchObject({ code: 'BAD_USER_INPUT', argument: target.path });
        expect(error!.message.startsWith(`${target.path}: `), context).toBe(true);
        if (target.kind === 'id') expect(target.mutation, `${context}: a mutation answers with its ValidationError member`).toBe(false);
      } else if (fieldAnswer?.__typename === 'ValidationError') {
        expect(target.mutation, `${context}: a query answers with a GraphQL error`).toBe(true);
        expect(fieldAnswer.field === target.path || (!bad && target.path.startsWith(fieldAnswer.field)), context).toBe(true);
        if (bad) expect(fieldAnswer.message.startsWith(`${target.path}: `), context).toBe(true);
      } else {
        expect(bad, `${context}: a malformed value must be refused, naming ${target.path}`).toBe(false);
        const outcome = fieldAnswer === null || fieldAnswer === undefined ? 'null' : String(fieldAnswer.__typename);
        expect(['null', 'NotFoundError'].includes(outcome) || /Connection$/.test(outcome), context).toBe(true);
      }
    };
    await fc.assert(fc.asyncProperty(malformed(target), (value) => check(value, true)()), { numRuns: 20 });
    const good = wellFormed(target);
    if (good) await fc.assert(fc.asyncProperty(good, (value) => check(value, false)()), { numRuns: 10 });
  });
});
