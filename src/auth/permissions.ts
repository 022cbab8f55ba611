// Permission maths (SPEC 3): plain functions, no GraphQL and no database.

export const RESOURCES = ['WORKSPACES', 'PROJECTS', 'LINKS', 'DOMAINS', 'ANALYTICS'] as const;
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

/** ANALYTICS can only ever be read. */
export function maxAccessFor(resource: Resource): Access {
  return resource === 'ANALYTICS' ? 'READ' : 'WRITE';
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

/** The role table of SPEC 3: OWNER writes everything, MEMBER links and projects, VIEWER reads. */
export function roleAccess(role: Role, resource: Resource): Access {
  if (role === 'OWNER') return maxAccessFor(resource);
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

export interface MintViolation {
  field: 'permission' | 'scopes' | 'workspaces' | 'expiresAt';
  message: string;
}

/**
 * May a key with `parent` create (or update a key into) `child`? Never more than itself:
 * per-resource access, workspaces and expiry are all bounded by the parent's.
 */
export function mintViolations(parent: KeyGrant, child: KeyGrant): MintViolation[] {
  const violations: MintViolation[] = [];
  if (!canWriteKeys(parent)) {
    violations.push({ field: 'permission', message: 'only a FULL key can create or change keys' });
    return violations;
  }
  for (const resource of RESOURCES) {
    if (!atLeast(keyAccess(parent, resource), keyAccess(child, resource))) {
      violations.push({
        field: child.permission === 'LIMITED' ? 'scopes' : 'permission',
        message: `the new key would have ${keyAccess(child, resource)} on ${resource}, more than this key's ${keyAccess(parent, resource)}`,
      });
    }
  }
  if (parent.workspaces.length > 0) {
    if (child.workspaces.length === 0) {
      violations.push({
        field: 'workspaces',
        message: 'this key is restricted to some workspaces, so the new key must be restricted to (some of) them too',
      });
    } else {
      const outside = child.workspaces.filter((w) => !parent.workspaces.includes(w));
      if (outside.length > 0) {
        violations.push({ field: 'workspaces', message: `workspaces outside this key's restriction: ${outside.join(', ')}` });
      }
    }
  }
  if (parent.expiresAt) {
    if (!child.expiresAt) {
      violations.push({ field: 'expiresAt', message: `this key expires at ${parent.expiresAt.toISOString()}; the new key must expire no later` });
    } else if (child.expiresAt.getTime() > parent.expiresAt.getTime()) {
      violations.push({ field: 'expiresAt', message: `expiresAt must be no later than this key's own expiry, ${parent.expiresAt.toISOString()}` });
    }
  }
  return violations;
}
