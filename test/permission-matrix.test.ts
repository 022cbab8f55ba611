import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isIntrospectionOnly } from '../src/yoga.ts';
import { atLeast, canReadKeys, canWriteKeys, keyAccess, permissionName, roleAccess, type KeyGrant, type Role, type Scope } from '../src/rules/permissions.ts';
import { schema } from '../src/schema/index.ts';
import { createTestApp, gql, makeKey, makeUser, makeWorkspace, useTestDatabase, type TestApp } from './helpers.ts';
import { OPERATIONS, outcomeOf, type Operation, type Outcome } from './operations.ts';
import { makeTarget, publishedZone } from './world.ts';

const { db } = useTestDatabase();
let t: TestApp;

beforeAll(() => {
  t = createTestApp(db(), {}, { txtResolver: publishedZone });
});
afterAll(() => t.close());

interface Variant {
  name: string;
  grant: Omit<KeyGrant, 'workspaces'>;
  restriction: 'none' | 'target' | 'elsewhere';
}

const limited = (...scopes: Scope[]): Omit<KeyGrant, 'workspaces'> => ({ permission: 'LIMITED', scopes });
const VARIANTS: Variant[] = [
  { name: 'FULL', grant: { permission: 'FULL', scopes: [] }, restriction: 'none' },
  { name: 'READ_ONLY', grant: { permission: 'READ_ONLY', scopes: [] }, restriction: 'none' },
  { name: 'LIMITED links:WRITE', grant: limited({ resource: 'LINKS', access: 'WRITE' }), restriction: 'none' },
  { name: 'LIMITED analytics:READ', grant: limited({ resource: 'ANALYTICS', access: 'READ' }), restriction: 'none' },
  { name: 'LIMITED links:READ restricted to the workspace', grant: limited({ resource: 'LINKS', access: 'READ' }), restriction: 'target' },
  { name: 'LIMITED links:READ restricted to another workspace', grant: limited({ resource: 'LINKS', access: 'READ' }), restriction: 'elsewhere' },
  { name: 'FULL restricted to the workspace', grant: { permission: 'FULL', scopes: [] }, restriction: 'target' },
];

/** The permission rules as a function: key scopes first, then workspace visibility, then the role. */
function expected(op: Operation, variant: Variant, role: Role): Outcome {
  const grant = { ...variant.grant, workspaces: variant.restriction === 'none' ? [] : ['w'] };
  if (op.resource === 'KEYS') {
    if (op.level === 'NONE') return { kind: 'ok' };
    const allowed = op.level === 'READ' ? canReadKeys(grant) : canWriteKeys(grant);
    if (!allowed) return { kind: 'forbidden', requiredPermission: permissionName('KEYS', op.level) };
    // A restricted key may not create, widen or take over (rotate) an unrestricted key.
    if (variant.restriction !== 'none' && ['createApiKey', 'updateApiKey', 'rotateApiKey'].includes(op.field)) {
      return { kind: 'other', detail: 'ValidationError: Escalation refused' };
    }
    return { kind: 'ok' };
  }
  const required = { kind: 'forbidden', requiredPermission: permissionName(op.resource, op.level) } as const;
  if (!atLeast(keyAccess(grant, op.resource), op.level)) return required;
  if (op.targetless) return op.field === 'createWorkspace' && variant.restriction !== 'none' ? required : { kind: 'ok' };
  if (variant.restriction === 'elsewhere') return { kind: 'notFound' };
  return atLeast(roleAccess(role, op.resource), op.level) ? { kind: 'ok' } : required;
}

const cases = VARIANTS.flatMap((variant) =>
  (variant.name === 'FULL' ? (['OWNER', 'MEMBER', 'VIEWER'] as Role[]) : (['OWNER'] as Role[])).flatMap((role) =>
    OPERATIONS.map((op) => ({ variant, role, op, label: `${variant.name} as ${role}: ${op.field}` })),
  ),
);

describe('permission matrix: every key variant × role × root operation', () => {
  it.each(cases)('$label', async ({ variant, role, op }) => {
    const alice = await makeUser('alice');
    const targetKey = await makeKey(alice, 'READ_ONLY');
    const target = await makeTarget(alice, role, targetKey.globalId);
    const workspaces =
      variant.restriction === 'target' ? [target.raw.workspaceId] : variant.restriction === 'elsewhere' ? [(await makeWorkspace(alice))._id] : [];
    const key = await makeKey(alice, variant.grant.permission, { scopes: [...variant.grant.scopes], workspaces });
    const result = await gql(t.app, op.document, op.variables(target), { key: key.secret });
    expect(result.status).toBe(200);
    const want = expected(op, variant, role);
    const got = outcomeOf(op, result.body);
    if (want.kind === 'other') {
      expect(got.kind).toBe('other');
      expect((got as { detail: string }).detail).toContain(want.detail);
    } else {
      expect(got).toEqual(want);
    }
  });
});

describe('the operation table covers the schema', () => {
  it('lists every Query and Mutation field', () => {
    const listed = new Set(OPERATIONS.map((op) => op.field));
    const missing = [schema.getQueryType()!, schema.getMutationType()!].flatMap((root) =>
      Object.keys(root.getFields()).filter((name) => !listed.has(name)),
    );
    expect(missing).toEqual([]);
    expect(isIntrospectionOnly).toBeTypeOf('function');
  });
});
