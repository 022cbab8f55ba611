import { RESOURCES, type Access, type Permission, type Resource, type Role } from '../rules/permissions.ts';
import type { DeactivationReason, KeyStatus } from '../rules/keys.ts';
import { builder } from './builder.ts';

export const ResourceEnum = builder.enumType('Resource', {
  description: 'A kind of data a key can be granted access to.',
  values: Object.fromEntries(
    RESOURCES.map((r) => [
      r,
      {
        value: r,
        description:
          r === 'AUDIT_LOG'
            ? 'The workspace audit log (READ at most; workspace OWNERs only).'
            : `${r[0]}${r.slice(1).toLowerCase()}${r === 'ANALYTICS' ? ' (READ at most)' : ''}.`,
      },
    ]),
  ) as Record<Resource, { value: Resource; description: string }>,
});

export const AccessEnum = builder.enumType('Access', {
  description: 'An access level; WRITE implies READ.',
  values: {
    NONE: { value: 'NONE' as Access, description: 'No access.' },
    READ: { value: 'READ' as Access, description: 'Read only.' },
    WRITE: { value: 'WRITE' as Access, description: 'Read and write.' },
  },
});

export const PermissionEnum = builder.enumType('Permission', {
  description: 'The permission level of an API key.',
  values: {
    FULL: { value: 'FULL' as Permission, description: 'Reads and writes everything and manages the user\'s keys.' },
    READ_ONLY: { value: 'READ_ONLY' as Permission, description: 'Reads everything and lists keys; writes nothing.' },
    LIMITED: { value: 'LIMITED' as Permission, description: 'Only what its scopes grant; no key management.' },
  },
});

export const RoleEnum = builder.enumType('Role', {
  description: "A user's role in a workspace.",
  values: {
    OWNER: { value: 'OWNER' as Role, description: 'Everything, including domains, members, settings and deletion.' },
    MEMBER: { value: 'MEMBER' as Role, description: 'Reads everything; writes links and projects.' },
    VIEWER: { value: 'VIEWER' as Role, description: 'Reads everything; writes nothing.' },
  },
});

export const KeyStatusEnum = builder.enumType('ApiKeyStatus', {
  description: 'Whether a key can be used.',
  values: {
    ACTIVE: { value: 'ACTIVE' as KeyStatus, description: 'Usable (unless expired).' },
    DEACTIVATED: { value: 'DEACTIVATED' as KeyStatus, description: 'Refused with 401; cannot be re-activated.' },
  },
});

export const DeactivationReasonEnum = builder.enumType('ApiKeyDeactivationReason', {
  description: 'Why a key no longer works.',
  values: {
    MANUAL: { value: 'MANUAL' as DeactivationReason, description: 'Deactivated by its user (deactivateApiKey or the CLI).' },
    EXPIRED: { value: 'EXPIRED' as DeactivationReason, description: 'Past its expiresAt (its status stays ACTIVE: expiry is part of the key).' },
    IDLE: { value: 'IDLE' as DeactivationReason, description: 'Unused for longer than its idle timeout.' },
    ROTATED: { value: 'ROTATED' as DeactivationReason, description: 'Replaced by a rotation. Not set by this server today: rotateApiKey keeps the key and replaces its secret (the old one ends with its grace period).' },
    LEAKED: { value: 'LEAKED' as DeactivationReason, description: 'Found in public content by a secret scanner (GitHub secret scanning) and deactivated at once.' },
    POLICY: { value: 'POLICY' as DeactivationReason, description: "Deactivated by a key policy. Not set by this server today: a workspace's keyPolicy blocks a non-compliant key inside that workspace (FORBIDDEN, reason POLICY) and never deactivates it." },
  },
});
