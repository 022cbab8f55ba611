import net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipListContains, ipRange } from '../src/rules/ip.ts';
import { boundsOf } from '../src/core/api-keys.ts';
import {
  atLeast,
  effectiveAccess,
  keyAccess,
  MINT_CHECKS,
  mintViolations,
  RESOURCES,
  ROLES,
  validateScopes,
  type Access,
  type KeyBounds,
  type KeyGrant,
  type Resource,
  type Role,
} from '../src/rules/permissions.ts';

// The permission and role tables, written out by hand: the code must agree with them cell by cell.
const W = 'WRITE', R = 'READ', N = 'NONE';
const KEY_TABLE: Record<string, Record<Resource, Access>> = {
  FULL: { WORKSPACES: W, PROJECTS: W, LINKS: W, DOMAINS: W, ANALYTICS: R, AUDIT_LOG: R },
  READ_ONLY: { WORKSPACES: R, PROJECTS: R, LINKS: R, DOMAINS: R, ANALYTICS: R, AUDIT_LOG: R },
  'LIMITED links:WRITE analytics:READ': { WORKSPACES: N, PROJECTS: N, LINKS: W, DOMAINS: N, ANALYTICS: R, AUDIT_LOG: N },
  'LIMITED projects:READ': { WORKSPACES: N, PROJECTS: R, LINKS: N, DOMAINS: N, ANALYTICS: N, AUDIT_LOG: N },
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
  OWNER: { WORKSPACES: W, PROJECTS: W, LINKS: W, DOMAINS: W, ANALYTICS: R, AUDIT_LOG: R },
  MEMBER: { WORKSPACES: R, PROJECTS: W, LINKS: W, DOMAINS: R, ANALYTICS: R, AUDIT_LOG: N },
  VIEWER: { WORKSPACES: R, PROJECTS: R, LINKS: R, DOMAINS: R, ANALYTICS: R, AUDIT_LOG: N },
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

const bounds = (grant: Partial<KeyBounds> = {}): KeyBounds => ({
  permission: 'FULL',
  scopes: [],
  workspaces: [],
  expiresAt: null,
  allowedIps: [],
  rateLimit: null,
  allowedDestinations: [],
  allowedDomains: [],
  idleTimeoutDays: null,
  trustedDocumentsOnly: false,
  ...grant,
});
const SETTINGS = { defaultRateLimit: 600, defaultPointsPerMinute: 10_000 };
const fields = (parent: KeyBounds, child: KeyBounds) => mintViolations(parent, child, SETTINGS).map((v) => v.field);

describe('can key A mint key B', () => {
  const full = bounds();
  const day = 86_400_000;
  const now = Date.now();

  it.each([
    ['FULL mints FULL', full, full, []],
    ['FULL mints READ_ONLY', full, bounds({ permission: 'READ_ONLY' }), []],
    ['READ_ONLY mints nothing', bounds({ permission: 'READ_ONLY' }), bounds({ permission: 'READ_ONLY' }), ['permission']],
    [
      'LIMITED mints nothing, not even a narrower LIMITED',
      bounds(GRANTS['LIMITED links:WRITE analytics:READ']!),
      bounds({ permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'READ' }] }),
      ['permission'],
    ],
    ['restricted FULL cannot mint an unrestricted key', bounds({ workspaces: ['w1'] }), full, ['workspaces']],
    ['restricted FULL cannot mint for another workspace', bounds({ workspaces: ['w1'] }), bounds({ workspaces: ['w1', 'w2'] }), ['workspaces']],
    ['restricted FULL mints within its workspaces', bounds({ workspaces: ['w1', 'w2'] }), bounds({ workspaces: ['w2'] }), []],
    ['expiring FULL cannot mint a non-expiring key', bounds({ expiresAt: new Date(now + day) }), full, ['expiresAt']],
    ['expiring FULL cannot mint a key expiring later', bounds({ expiresAt: new Date(now + day) }), bounds({ expiresAt: new Date(now + 2 * day) }), ['expiresAt']],
    ['expiring FULL mints a key expiring sooner', bounds({ expiresAt: new Date(now + 2 * day) }), bounds({ expiresAt: new Date(now + day) }), []],
    ['IP-bound FULL cannot mint a key usable from anywhere', bounds({ allowedIps: ['10.0.0.0/8'] }), full, ['allowedIps']],
    ['IP-bound FULL cannot mint a wider CIDR', bounds({ allowedIps: ['10.0.0.0/8'] }), bounds({ allowedIps: ['10.0.0.0/7'] }), ['allowedIps']],
    ['IP-bound FULL mints inside its CIDRs', bounds({ allowedIps: ['10.0.0.0/8', '2001:db8::/32'] }), bounds({ allowedIps: ['10.2.3.4', '2001:db8:5::/48'] }), []],
    ['rate-limited FULL cannot mint a key on the server default', bounds({ rateLimit: 100 }), full, ['rateLimit']],
    ['rate-limited FULL cannot mint a faster key', bounds({ rateLimit: 100 }), bounds({ rateLimit: 101 }), ['rateLimit']],
    ['rate-limited FULL mints an equal or slower key', bounds({ rateLimit: 100 }), bounds({ rateLimit: 100 }), []],
    ['a FULL key on the default cannot mint a key faster than the default', full, bounds({ rateLimit: 601 }), ['rateLimit']],
    ['a FULL key on the default mints one on the default or slower', full, bounds({ rateLimit: 600 }), []],
    ['a points-budgeted FULL cannot mint a key on the server default', bounds({ pointsPerMinute: 100 }), full, ['pointsPerMinute']],
    ['a points-budgeted FULL mints an equal or smaller budget', bounds({ pointsPerMinute: 100 }), bounds({ pointsPerMinute: 100 }), []],
    ['a FULL key on the default cannot mint a budget over the default', full, bounds({ pointsPerMinute: 10_001 }), ['pointsPerMinute']],
    ['every axis at once', bounds({ workspaces: ['w1'], expiresAt: new Date(now + day), allowedIps: ['10.0.0.0/8'], rateLimit: 5 }), full, ['workspaces', 'expiresAt', 'allowedIps', 'rateLimit']],
  ] as [string, KeyBounds, KeyBounds, string[]][])('%s', (_name, parent, child, expected) => {
    expect(fields(parent, child)).toEqual(expected);
  });
});

describe('every restriction axis has a check', () => {
  // One wider-than-parent case per axis. Typed by KeyBounds, so a new axis without a case
  // fails to compile; the key comparison below fails at run time as well.
  const WIDER: { [Axis in keyof KeyBounds]-?: [KeyBounds, KeyBounds] } = {
    permission: [bounds({ permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'READ' }] }), bounds({ permission: 'READ_ONLY' })],
    scopes: [
      bounds({ permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'READ' }] }),
      bounds({ permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'WRITE' }] }),
    ],
    workspaces: [bounds({ workspaces: ['w1'] }), bounds({ workspaces: ['w2'] })],
    expiresAt: [bounds({ expiresAt: new Date(1e12) }), bounds({ expiresAt: new Date(1e12 + 1) })],
    allowedIps: [bounds({ allowedIps: ['10.0.0.0/8'] }), bounds({ allowedIps: ['11.0.0.0/8'] })],
    rateLimit: [bounds({ rateLimit: 10 }), bounds({ rateLimit: 11 })],
    pointsPerMinute: [bounds({ pointsPerMinute: 10 }), bounds({ pointsPerMinute: 11 })],
    allowedDestinations: [bounds({ allowedDestinations: ['*.example.com'] }), bounds({ allowedDestinations: ['example.com'] })],
    allowedDomains: [bounds({ allowedDomains: ['@platform'] }), bounds({ allowedDomains: ['go.example.com'] })],
    idleTimeoutDays: [bounds({ idleTimeoutDays: 30 }), bounds({ idleTimeoutDays: 31 })],
    trustedDocumentsOnly: [bounds({ trustedDocumentsOnly: true }), bounds({ trustedDocumentsOnly: false })],
  };

  it('the checks, the cases and the fields of a stored key name the same axes', () => {
    const stored = boundsOf({ permission: 'FULL', scopes: [], workspaces: [], allowedIps: [] });
    expect(Object.keys(MINT_CHECKS).sort()).toEqual(Object.keys(stored).sort());
    expect(Object.keys(WIDER).sort()).toEqual(Object.keys(stored).sort());
  });

  it.each(Object.entries(WIDER))('%s: the check refuses a wider key and accepts an equal one', (axis, [parent, child]) => {
    const check = MINT_CHECKS[axis as keyof KeyBounds];
    expect(check(parent, child, SETTINGS).map((v) => v.field)).toContain(axis);
    expect(check(parent, parent, SETTINGS)).toEqual([]);
  });
});

describe('narrowing is a preorder (property)', () => {
  const CIDRS = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.3', '192.168.0.0/16', '2001:db8::/32', '2001:db8:1::/48', '::/0', '0.0.0.0/0'];
  const DATES = [null, new Date(2e12), new Date(2e12 + 1000)];
  const PATTERNS = ['example.com', '*.example.com', 'a.example.com', '*.a.example.com', 'b.a.example.com', 'xexample.com', '*.org'];
  const arbBounds: fc.Arbitrary<KeyBounds> = fc.record({
    permission: fc.constantFrom('FULL' as const, 'READ_ONLY' as const),
    scopes: fc.constant([]),
    workspaces: fc.subarray(['w1', 'w2', 'w3']),
    expiresAt: fc.constantFrom(...DATES),
    allowedIps: fc.subarray(CIDRS),
    rateLimit: fc.constantFrom(null, 10, 100, 600, 1000),
    allowedDestinations: fc.subarray(PATTERNS),
    allowedDomains: fc.subarray(['@platform', ...PATTERNS]),
    idleTimeoutDays: fc.constantFrom(null, 1, 30, 90),
    trustedDocumentsOnly: fc.boolean(),
  });

  it('every FULL key may mint itself', () => {
    fc.assert(fc.property(arbBounds, (key) => fields({ ...key, permission: 'FULL' }, key).length === 0));
  });

  it.each(Object.entries(MINT_CHECKS))('%s: allowed twice means allowed once (no widening through a middleman)', (_axis, check) => {
    fc.assert(
      fc.property(arbBounds, arbBounds, arbBounds, (a, b, c) => {
        fc.pre(check(a, b, SETTINGS).length === 0 && check(b, c, SETTINGS).length === 0);
        return check(a, c, SETTINGS).length === 0;
      }),
      { numRuns: 300 },
    );
  });
});

describe('CIDR containment (property)', () => {
  const v4 = fc.ipV4();
  const v6 = fc.ipV6().filter((address) => net.isIP(address) === 6);
  const prefix4 = fc.integer({ min: 0, max: 32 });
  const prefix6 = fc.integer({ min: 0, max: 128 });
  const entry = fc.oneof(
    v4,
    v6,
    fc.tuple(v4, prefix4).map(([a, p]) => `${a}/${p}`),
    fc.tuple(v6, prefix6).map(([a, p]) => `${a}/${p}`),
  );
  const blockList = (e: string) => {
    const [address = '', bits] = e.split('/');
    const type = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
    const list = new net.BlockList();
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
    return list;
  };

  it('agrees with the allow list that checks requests, for any address and entry', () => {
    fc.assert(
      fc.property(entry, fc.oneof(v4, v6), (e, address) => {
        const list = blockList(e);
        return ipListContains([e], address) === list.check(address, net.isIP(address) === 6 ? 'ipv6' : 'ipv4');
      }),
      { numRuns: 3000 },
    );
  });

  it('a random address inside a random subnet is contained', () => {
    fc.assert(
      fc.property(v4, prefix4, fc.integer({ min: 0, max: 2 ** 32 - 1 }), (base, bits, noise) => {
        const hostMask = bits === 32 ? 0 : 2 ** (32 - bits) - 1;
        const baseNumber = base.split('.').reduce((n, o) => n * 256 + Number(o), 0);
        const inside = (baseNumber - (baseNumber % (hostMask + 1))) + (noise % (hostMask + 1));
        const address = [24, 16, 8, 0].map((shift) => Math.floor(inside / 2 ** shift) % 256).join('.');
        return ipListContains([`${base}/${bits}`], address);
      }),
    );
  });

  it('nested prefixes of one address are contained in each other, outward only', () => {
    fc.assert(
      fc.property(v6, prefix6, prefix6, (address, p, q) => {
        const [wide, narrow] = p <= q ? [p, q] : [q, p];
        return ipListContains([`${address}/${wide}`], `${address}/${narrow}`) && (wide === narrow || !ipListContains([`${address}/${narrow}`], `${address}/${wide}`));
      }),
    );
  });

  // Random entries seldom nest, so chains are built: each entry a random subnet of the one before.
  const toV6 = (n: bigint) => Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
  const subnetOf = (e: string, extra: number, noise: bigint) => {
    const { first, last } = ipRange(e)!;
    const hostBits = (last - first).toString(2).replace(/^0$/, '').length;
    const prefix = 128 - hostBits + Math.min(extra, hostBits);
    const mask = (1n << BigInt(128 - prefix)) - 1n;
    return `${toV6((first + (noise % (last - first + 1n))) & ~mask)}/${prefix}`;
  };
  const chainStep = fc.tuple(fc.integer({ min: 0, max: 128 }), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }));

  it('is transitive, and never holds a strictly wider entry', () => {
    fc.assert(
      fc.property(entry, chainStep, chainStep, (a, [k1, n1], [k2, n2]) => {
        const b = subnetOf(a, k1, n1);
        const c = subnetOf(b, k2, n2);
        const size = (x: string) => ipRange(x)!.last - ipRange(x)!.first;
        return (
          ipListContains([a], b) &&
          ipListContains([b], c) &&
          ipListContains([a], c) &&
          (size(c) === size(a) || !ipListContains([c], a))
        );
      }),
    );
    fc.assert(
      fc.property(entry, entry, entry, (a, b, c) => !(ipListContains([a], b) && ipListContains([b], c)) || ipListContains([a], c)),
    );
  });

  it('a /0 contains everything of its family; ::/0 also holds IPv4, as requests are matched', () => {
    fc.assert(fc.property(fc.tuple(v4, prefix4).map(([a, p]) => `${a}/${p}`), (e) => ipListContains(['0.0.0.0/0'], e) && ipListContains(['::/0'], e)));
    fc.assert(fc.property(fc.tuple(v6, prefix6).map(([a, p]) => `${a}/${p}`), (e) => ipListContains(['::/0'], e)));
  });

  it('IPv4 is never inside an IPv6 list unless the list covers its IPv4-mapped form, and the other way round', () => {
    fc.assert(
      fc.property(fc.tuple(v4, prefix4).map(([a, p]) => `${a}/${p}`), fc.tuple(v6, fc.integer({ min: 1, max: 95 })), (e, [address, bits]) => {
        const range = ipRange(`${address}/${bits}`)!;
        const coversMapped = range.first <= 0xffffn << 32n && range.last >= (0xffffn << 32n) + 0xffffffffn;
        return ipListContains([`${address}/${bits}`], e) === coversMapped;
      }),
    );
    fc.assert(
      fc.property(v6, prefix6, (address, bits) => {
        const r = ipRange(`${address}/${bits}`)!;
        const mappedOnly = r.first >> 32n === 0xffffn && r.last >> 32n === 0xffffn;
        return mappedOnly || !ipListContains(['0.0.0.0/0'], `${address}/${bits}`);
      }),
    );
    fc.assert(fc.property(v4, prefix4, (address, bits) => ipListContains([`::ffff:${address}/${96 + bits}`], `${address}/${bits}`) && ipListContains([`${address}/${bits}`], `::ffff:${address}/${96 + bits}`)));
  });

  it('a list holds what its entries hold together, and an empty list holds anything', () => {
    expect(ipListContains(['10.0.0.0/9', '10.128.0.0/9'], '10.0.0.0/8')).toBe(true);
    expect(ipListContains(['10.0.0.0/9', '10.129.0.0/16'], '10.0.0.0/8')).toBe(false);
    expect(ipListContains([], '::/0')).toBe(true);
    expect(ipListContains(['10.0.0.0/8'], 'not an ip')).toBe(false);
    expect(ipListContains(['fe80::/10'], 'fe80::1%eth0')).toBe(true);
  });
});
