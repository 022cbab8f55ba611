import fs from 'node:fs';
import path from 'node:path';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isScalarType,
  isUnionType,
  printSchema,
  type GraphQLField,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';
import { ROOT } from './process.ts';

const userTypes = () => Object.values(schema.getTypeMap()).filter((type) => !type.name.startsWith('__'));

describe('schema', () => {
  it('matches the checked-in schema.graphql (run `npm run schema` after changing the schema)', () => {
    const checkedIn = fs.readFileSync(path.join(ROOT, 'schema.graphql'), 'utf8');
    expect(`${printSchema(schema)}\n`).toBe(checkedIn);
  });

  it('has a description on every type, field, argument, input field and enum value', () => {
    const missing: string[] = [];
    for (const type of userTypes()) {
      if (isScalarType(type) && ['String', 'Int', 'Float', 'Boolean', 'ID'].includes(type.name)) continue;
      if (!type.description) missing.push(type.name);
      if (isObjectType(type) || isInterfaceType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of field.args) if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
      if (isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) if (!field.description) missing.push(`${type.name}.${field.name}`);
      }
      if (isEnumType(type)) {
        for (const value of type.getValues()) if (!value.description) missing.push(`${type.name}.${value.name}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

type PothosExtensions = { pothosOptions?: { authScopes?: unknown; skipTypeScopes?: boolean } };
const hasFieldAuth = (field: GraphQLField<unknown, unknown>) =>
  (field.extensions as PothosExtensions).pothosOptions?.authScopes !== undefined;

// Fields and types that are public on purpose; everything else needs an auth rule.
const PUBLIC_ROOT_FIELDS = new Set<string>(['Query.node']);
// Plain value types that hold no workspace data of their own and are reached only through guarded fields.
const VALUE_TYPES = new Set([
  'Query', 'Mutation', 'PageInfo', 'KeyScope', 'ResourceAccess', 'RateLimit', 'WorkspaceAccess',
  'ValidationError', 'NotFoundError', 'ConflictError', 'VerificationFailedError',
  'ClickBreakdown', 'DailyClicks', 'DomainVerification', 'Utm', 'PermissionUsage',
]);

describe('auth coverage', () => {
  it('every Query and Mutation field has an auth rule (node(id:) relies on the type rules)', () => {
    const unguarded: string[] = [];
    for (const root of [schema.getQueryType()!, schema.getMutationType()!]) {
      for (const field of Object.values(root.getFields())) {
        const name = `${root.name}.${field.name}`;
        if (!hasFieldAuth(field) && !PUBLIC_ROOT_FIELDS.has(name)) unguarded.push(name);
      }
    }
    expect(unguarded).toEqual([]);
  });

  it('every object type that holds user or workspace data has a type-level auth rule', () => {
    const unguarded: string[] = [];
    for (const type of userTypes()) {
      if (!isObjectType(type) || VALUE_TYPES.has(type.name)) continue;
      if (/(Connection|Edge|Payload)$/.test(type.name)) {
        // Wrappers: what they wrap must be guarded.
        continue;
      }
      const options = (type.extensions as { pothosOptions?: { authScopes?: unknown } }).pothosOptions;
      if (options?.authScopes === undefined) unguarded.push(type.name);
    }
    expect(unguarded).toEqual([]);
  });

  it('every type wrapped by a connection or payload is itself guarded or a value type', () => {
    const problems: string[] = [];
    for (const type of userTypes()) {
      if (!isObjectType(type) || !/(Connection|Edge|Payload)$/.test(type.name)) continue;
      for (const field of Object.values(type.getFields())) {
        const inner = getNamedType(field.type);
        if (isUnionType(inner) || isScalarType(inner) || isEnumType(inner) || VALUE_TYPES.has(inner.name)) continue;
        if (/(Connection|Edge)$/.test(inner.name)) continue;
        const options = (inner.extensions as { pothosOptions?: { authScopes?: unknown } }).pothosOptions;
        if (options?.authScopes === undefined) problems.push(`${type.name}.${field.name} -> ${inner.name}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
