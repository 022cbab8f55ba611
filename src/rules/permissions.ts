// Permission maths: plain functions, no GraphQL and no database.

import { ipListContains } from './ip.ts';
import { uncoveredPatterns } from './host-patterns.ts';

export const RESOURCES = ['WORKSPACES', 'PROJECTS', 'LINKS', 'DOMAINS', 'ANALYTICS', 'AUDIT_LOG'] as const;
export type Resource = (typeof RESOURCES)[number];
export const ACCESS_LEVELS = ['NONE', 'READ', 'WRITE'] as const;
export type Access = (typeof ACCESS_LEVELS)[number];
export const PERMISSIONS = ['FULL', 'READ_ONLY', 'LIMITED'] as const;
export type Permission = (typeof PERMISSIONS)[number];
export const ROLES = ['OWNER', 'MEMBER', 'VIEWER'] as const;
export type Role = (typeof ROLES)[number];

export interface Scope {
  resource: Resource;
  access: Access;
}

/** What a key grants, independent of any workspace. */
export interface KeyGrant {
  permission: Permission;
  scopes: readonly Scope[];
  /** Workspace ids the key is restricted to; empty means every workspace of the user. */
  workspaces: readonly string[];
  expiresAt?: Date | null;
}

const RANK: Record<Access, number> = { NONE: 0, READ: 1, WRITE: 2 };

export function atLeast(access: Access, required: Access): boolean {
  return RANK[access] >= RANK[required];
}

export function minAccess(a: Access, b: Access): Access {
  return RANK[a] <= RANK[b] ? a : b;
}

/** ANALYTICS and AUDIT_LOG can only ever be read (the audit log is append-only: no API changes it). */
export function maxAccessFor(resource: Resource): Access {
  return resource === 'ANALYTICS' || resource === 'AUDIT_LOG' ? 'READ' : 'WRITE';
}

export function keyAccess(grant: Pick<KeyGrant, 'permission' | 'scopes'>, resource: Resource): Access {
  switch (grant.permission) {
    case 'FULL':
      return maxAccessFor(resource);
    case 'READ_ONLY':
      return 'READ';
    case 'LIMITED': {
      const scope = grant.scopes.find((s) => s.resource === resource);
      return scope ? minAccess(scope.access, maxAccessFor(resource)) : 'NONE';
    }
  }
}

/** The role table: OWNER writes everything, MEMBER links and projects, VIEWER reads; only OWNER reads the audit log. */
export function roleAccess(role: Role, resource: Resource): Access {
  if (role === 'OWNER') return maxAccessFor(resource);
  if (resource === 'AUDIT_LOG') return 'NONE';
  if (role === 'MEMBER' && (resource === 'LINKS' || resource === 'PROJECTS')) return 'WRITE';
  return 'READ';
}

export function keyAllowsWorkspace(grant: Pick<KeyGrant, 'workspaces'>, workspaceId: string): boolean {
  return grant.workspaces.length === 0 || grant.workspaces.includes(workspaceId);
}

/** Effective access = key scopes ∩ workspace restriction ∩ the user's role there (null: not a member). */
export function effectiveAccess(grant: KeyGrant, resource: Resource, workspaceId: string, role: Role | null): Access {
  if (!role || !keyAllowsWorkspace(grant, workspaceId)) return 'NONE';
  return minAccess(keyAccess(grant, resource), roleAccess(role, resource));
}

export function canReadKeys(grant: Pick<KeyGrant, 'permission'>): boolean {
  return grant.permission === 'FULL' || grant.permission === 'READ_ONLY';
}

export function canWriteKeys(grant: Pick<KeyGrant, 'permission'>): boolean {
  return grant.permission === 'FULL';
}

/** `links:write` style name used in FORBIDDEN errors and docs. */
export function permissionName(resource: Resource | 'KEYS', access: Access): string {
  return `${resource.toLowerCase()}:${access.toLowerCase()}`;
}

/** Normalises a LIMITED key's scopes; returns an error message or the cleaned list. */
export function validateScopes(permission: Permission, scopes: readonly Scope[]): string | Scope[] {
  if (permission !== 'LIMITED') {
    return scopes.length === 0 ? [] : 'scopes are only allowed with permission LIMITED; remove them or use LIMITED';
  }
  const seen = new Set<Resource>();
  const cleaned: Scope[] = [];
  for (const scope of scopes) {
    if (seen.has(scope.resource)) return `scope ${scope.resource} is listed twice; give each resource once`;
    seen.add(scope.resource);
    if (!atLeast(maxAccessFor(scope.resource), scope.access)) {
      return `${scope.resource} can be granted READ at most`;
    }
    if (scope.access !== 'NONE') cleaned.push({ resource: scope.resource, access: scope.access });
  }
  if (cleaned.length === 0) return 'a LIMITED key needs at least one scope with READ or WRITE access';
  return cleaned;
}

/** Everything a key is bounded by: its grant plus where it may be used from and how fast. */
export interface KeyBounds extends KeyGrant {
  expiresAt: Date | null;
  /** IPs and CIDRs the key may be used from; empty means any address. */
  allowedIps: readonly string[];
  /** Requests per minute; null means the server default. */
  rateLimit: number | null;
  /** Query-cost points per minute; null (or missing) means the server default. */
  pointsPerMinute?: number | null;
  /** Host patterns of the URLs links may send people to; empty means any. */
  allowedDestinations: readonly string[];
  /** Host patterns of the short-link domains links may be on (PLATFORM_DOMAIN for the platform's); empty means any. */
  allowedDomains: readonly string[];
  /** Days unused after which the key stops working; null means never. */
  idleTimeoutDays: number | null;
  /** Runs only documents registered as trusted for its workspaces (by documentId), never a raw query. */
  trustedDocumentsOnly: boolean;
}

export interface MintViolation {
  field: keyof KeyBounds;
  message: string;
}

export interface MintSettings {
  /** The server's per-key limit, which a key without its own rateLimit is held to. */
  defaultRateLimit: number;
  /** The server's points budget, which a key without its own pointsPerMinute is held to. */
  defaultPointsPerMinute?: number;
}

type AxisCheck = (parent: KeyBounds, child: KeyBounds, settings: MintSettings) => MintViolation[];

const accessWithin: AxisCheck = (parent, child) =>
  RESOURCES.flatMap((resource) =>
    atLeast(keyAccess(parent, resource), keyAccess(child, resource))
      ? []
      : [
          {
            field: child.permission === 'LIMITED' ? ('scopes' as const) : ('permission' as const),
            message: `the new key would have ${keyAccess(child, resource)} on ${resource}, more than this key's ${keyAccess(parent, resource)}`,
          },
        ],
  );

const workspacesWithin: AxisCheck = (parent, child) => {
  if (parent.workspaces.length === 0) return [];
  if (child.workspaces.length === 0) {
    return [{ field: 'workspaces', message: 'this key is restricted to some workspaces, so the new key must be restricted to (some of) them too' }];
  }
  // No ids in the message: a workspace outside the restriction must read like one that does not exist.
  return child.workspaces.every((w) => parent.workspaces.includes(w))
    ? []
    : [{ field: 'workspaces', message: "workspaces outside this key's restriction; keep to the workspaces this key is restricted to" }];
};

const expiryWithin: AxisCheck = (parent, child) => {
  if (!parent.expiresAt) return [];
  const limit = parent.expiresAt.toISOString();
  if (!child.expiresAt) return [{ field: 'expiresAt', message: `this key expires at ${limit}; the new key must expire no later` }];
  return child.expiresAt.getTime() > parent.expiresAt.getTime()
    ? [{ field: 'expiresAt', message: `expiresAt must be no later than this key's own expiry, ${limit}` }]
    : [];
};

function listForMessage(entries: readonly string[]): string {
  return entries.length <= 5 ? entries.join(', ') : `${entries.slice(0, 5).join(', ')} and ${entries.length - 5} more`;
}

const allowedIpsWithin: AxisCheck = (parent, child) => {
  if (parent.allowedIps.length === 0) return [];
  const own = listForMessage(parent.allowedIps);
  if (child.allowedIps.length === 0) {
    return [{ field: 'allowedIps', message: `this key may only be used from ${own}, so the new key needs allowedIps inside that list too (an empty list means any address)` }];
  }
  const outside = child.allowedIps.filter((entry) => !ipListContains(parent.allowedIps, entry));
  return outside.length === 0
    ? []
    : [{ field: 'allowedIps', message: `every allowedIps entry must lie inside this key's allowedIps (${own}): ${listForMessage(outside)} does not; narrow or remove it` }];
};

const rateLimitWithin: AxisCheck = (parent, child, { defaultRateLimit }) => {
  if (parent.rateLimit !== null) {
    if (child.rateLimit === null) {
      return [{ field: 'rateLimit', message: `this key is limited to ${parent.rateLimit} requests per minute; give the new key a rateLimit of at most ${parent.rateLimit} (null would mean the server default)` }];
    }
    return child.rateLimit > parent.rateLimit
      ? [{ field: 'rateLimit', message: `rateLimit must be at most this key's own, ${parent.rateLimit} requests per minute` }]
      : [];
  }
  return child.rateLimit !== null && child.rateLimit > defaultRateLimit
    ? [{ field: 'rateLimit', message: `rateLimit must be at most this key's own, the server default of ${defaultRateLimit} requests per minute` }]
    : [];
};

/** Like rateLimit: at most the parent's own budget, which is the server default when it has none. */
const pointsWithin: AxisCheck = (parent, child, { defaultPointsPerMinute }) => {
  const own = parent.pointsPerMinute ?? null;
  const wanted = child.pointsPerMinute ?? null;
  if (own !== null) {
    if (wanted === null) {
      return [{ field: 'pointsPerMinute', message: `this key has a budget of ${own} points per minute; give the new key a pointsPerMinute of at most ${own} (null would mean the server default)` }];
    }
    return wanted > own ? [{ field: 'pointsPerMinute', message: `pointsPerMinute must be at most this key's own, ${own} points per minute` }] : [];
  }
  return wanted !== null && defaultPointsPerMinute !== undefined && wanted > defaultPointsPerMinute
    ? [{ field: 'pointsPerMinute', message: `pointsPerMinute must be at most this key's own, the server default of ${defaultPointsPerMinute} points per minute` }]
    : [];
};

/** A host-pattern axis: each pattern of the child lies inside one of the parent's (empty: any host). */
const patternsWithin =
  (field: 'allowedDestinations' | 'allowedDomains', what: string): AxisCheck =>
  (parent, child) => {
    if (parent[field].length === 0) return [];
    const own = listForMessage(parent[field]);
    if (child[field].length === 0) {
      return [{ field, message: `this key may only ${what} ${own}, so the new key needs ${field} within that list too (an empty list means any)` }];
    }
    const outside = uncoveredPatterns(parent[field], child[field]);
    return outside.length === 0
      ? []
      : [{ field, message: `every ${field} entry must lie inside one of this key's (${own}): ${listForMessage(outside)} does not; narrow or remove it` }];
  };

const idleTimeoutWithin: AxisCheck = (parent, child) => {
  if (parent.idleTimeoutDays === null) return [];
  if (child.idleTimeoutDays === null || child.idleTimeoutDays > parent.idleTimeoutDays) {
    return [{ field: 'idleTimeoutDays', message: `this key stops working after ${parent.idleTimeoutDays} idle days; give the new key an idleTimeoutDays of at most ${parent.idleTimeoutDays}` }];
  }
  return [];
};

const trustedDocumentsWithin: AxisCheck = (parent, child) =>
  parent.trustedDocumentsOnly && !child.trustedDocumentsOnly
    ? [{ field: 'trustedDocumentsOnly', message: 'this key runs trusted documents only, so the new key must have trustedDocumentsOnly: true too' }]
    : [];

/**
 * One check per restriction axis. The type requires an entry for every field of KeyBounds, so a
 * new restriction cannot be added without saying how it narrows. Permission and scopes are one
 * check: together they make the per-resource access.
 */
export const MINT_CHECKS: { readonly [Axis in keyof KeyBounds]-?: AxisCheck } = {
  permission: accessWithin,
  scopes: accessWithin,
  workspaces: workspacesWithin,
  expiresAt: expiryWithin,
  allowedIps: allowedIpsWithin,
  rateLimit: rateLimitWithin,
  pointsPerMinute: pointsWithin,
  allowedDestinations: patternsWithin('allowedDestinations', 'send people to'),
  allowedDomains: patternsWithin('allowedDomains', 'put links on'),
  idleTimeoutDays: idleTimeoutWithin,
  trustedDocumentsOnly: trustedDocumentsWithin,
};

/**
 * May a key bounded by `parent` create, update or rotate a key into `child`? Only into one at
 * least as restricted on every axis; and only FULL keys manage keys at all.
 */
export function mintViolations(parent: KeyBounds, child: KeyBounds, settings: MintSettings): MintViolation[] {
  if (!canWriteKeys(parent)) return [{ field: 'permission', message: 'only a FULL key can create or change keys' }];
  return [...new Set(Object.values(MINT_CHECKS))].flatMap((check) => check(parent, child, settings));
}
