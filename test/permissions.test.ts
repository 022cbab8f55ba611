import { describe, expect, it } from 'vitest';
import {
  atLeast,
  effectiveAccess,
  keyAccess,
  mintViolations,
  RESOURCES,
  ROLES,
  validateScopes,
  type Access,
  type KeyGrant,
  type Resource,
  type Role,
} from '../src/auth/permissions.ts';

// SPEC 3, written out by hand: the code must agree with these tables cell by cell.
const W = 'WRITE', R = 'READ', N = 'NONE';
const KEY_TABLE: Record<string, Record<Resource, Access>> = {
  FULL: { WORKSPACES: W, PROJECTS: W, LINKS: W, DOMAINS: W, ANALYTICS: R },
  READ_ONLY: { WORKSPACES: R, PROJECTS: R, LINKS: R, DOMAINS: R, ANALYTICS: R },
  'LIMITED links:WRITE analytics:READ': { WORKSPACES: N, PROJECTS: N, LINKS: W, DOMAINS: N, ANALYTICS: R },
  'LIMITED projects:READ': { WORKSPACES: N, PROJECTS: R, LINKS: N, DOMAINS: N, ANALYTICS: N },
};
const GRANTS: Record<string, KeyGrant> = {
  FULL: { permission: 'FULL', scopes: [], workspaces: [] },
  READ_ONLY: { permission: 'READ_ONLY', scopes: [], workspaces: [] },
  'LIMITED links:WRITE analytics:READ': {
    permission: 'LIMITED',
    scopes: [
      { resource: 'LINKS', access: 'WRITE' },
      { resource: 'ANALYTICS', access: 'READ' },
    ],
    workspaces: [],
  },
  'LIMITED projects:READ': { permission: 'LIMITED', scopes: [{ resource: 'PROJECTS', access: 'READ' }], workspaces: [] },
};
const ROLE_TABLE: Record<Role, Record<Resource, Access>> = {
  OWNER: { WORKSPACES: W, PROJECTS: W, LINKS: W, DOMAINS: W, ANALYTICS: R },
  MEMBER: { WORKSPACES: R, PROJECTS: W, LINKS: W, DOMAINS: R, ANALYTICS: R },
  VIEWER: { WORKSPACES: R, PROJECTS: R, LINKS: R, DOMAINS: R, ANALYTICS: R },
};
const RANK = { NONE: 0, READ: 1, WRITE: 2 } as const;

const cases = Object.keys(GRANTS).flatMap((grant) =>
  RESOURCES.flatMap((resource) =>
    (['READ', 'WRITE'] as const).flatMap((required) =>
      [...ROLES, null].map((role) => ({ grant, resource, required, role })),
    ),
  ),
);

describe('effective access = key scopes ∩ role (every permission × resource × access × role)', () => {
  it.each(cases)('$grant on $resource needing $required as $role', ({ grant, resource, required, role }) => {
    const keyLevel = KEY_TABLE[grant]![resource];
    const roleLevel = role ? ROLE_TABLE[role][resource] : N;
    const expected = Math.min(RANK[keyLevel], RANK[roleLevel]) >= RANK[required];
    expect(keyAccess(GRANTS[grant]!, resource)).toBe(keyLevel);
    expect(atLeast(effectiveAccess(GRANTS[grant]!, resource, 'ws1', role), required)).toBe(expected);
  });

  it('a workspace restriction removes every other workspace', () => {
    const grant: KeyGrant = { permission: 'FULL', scopes: [], workspaces: ['ws1'] };
    expect(effectiveAccess(grant, 'LINKS', 'ws1', 'OWNER')).toBe('WRITE');
    expect(effectiveAccess(grant, 'LINKS', 'ws2', 'OWNER')).toBe('NONE');
  });
});

describe('scopes', () => {
  it('ANALYTICS is READ at most; duplicates and empty LIMITED keys are refused', () => {
    expect(validateScopes('LIMITED', [{ resource: 'ANALYTICS', access: 'WRITE' }])).toMatch(/READ at most/);
    expect(validateScopes('LIMITED', [{ resource: 'LINKS', access: 'READ' }, { resource: 'LINKS', access: 'WRITE' }])).toMatch(/twice/);
    expect(validateScopes('LIMITED', [])).toMatch(/at least one scope/);
    expect(validateScopes('FULL', [{ resource: 'LINKS', access: 'READ' }])).toMatch(/only allowed with permission LIMITED/);
    expect(validateScopes('LIMITED', [{ resource: 'LINKS', access: 'READ' }])).toEqual([{ resource: 'LINKS', access: 'READ' }]);
  });
});

describe('can key A mint key B', () => {
  const full: KeyGrant = { permission: 'FULL', scopes: [], workspaces: [] };
  const day = 86_400_000;
  const now = Date.now();

  it.each([
    ['FULL mints FULL', full, full, []],
    ['FULL mints READ_ONLY', full, { permission: 'READ_ONLY', scopes: [], workspaces: [] }, []],
    ['READ_ONLY mints nothing', { permission: 'READ_ONLY', scopes: [], workspaces: [] }, { permission: 'READ_ONLY', scopes: [], workspaces: [] }, ['permission']],
    [
      'LIMITED mints nothing, not even a narrower LIMITED',
      GRANTS['LIMITED links:WRITE analytics:READ']!,
      { permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'READ' }], workspaces: [] },
      ['permission'],
    ],
    ['restricted FULL cannot mint an unrestricted key', { ...full, workspaces: ['w1'] }, full, ['workspaces']],
    ['restricted FULL cannot mint for another workspace', { ...full, workspaces: ['w1'] }, { ...full, workspaces: ['w1', 'w2'] }, ['workspaces']],
    ['restricted FULL mints within its workspaces', { ...full, workspaces: ['w1', 'w2'] }, { ...full, workspaces: ['w2'] }, []],
    ['expiring FULL cannot mint a non-expiring key', { ...full, expiresAt: new Date(now + day) }, full, ['expiresAt']],
    [
      'expiring FULL cannot mint a key expiring later',
      { ...full, expiresAt: new Date(now + day) },
      { ...full, expiresAt: new Date(now + 2 * day) },
      ['expiresAt'],
    ],
    ['expiring FULL mints a key expiring sooner', { ...full, expiresAt: new Date(now + 2 * day) }, { ...full, expiresAt: new Date(now + day) }, []],
  ] as [string, KeyGrant, KeyGrant, string[]][])('%s', (_name, parent, child, fields) => {
    expect(mintViolations(parent, child).map((v) => v.field)).toEqual(fields);
  });
});
