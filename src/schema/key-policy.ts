import { keyPolicyOf, updateWorkspaceKeyPolicy } from '../core/key-policy.ts';
import type { WorkspaceDoc } from '../core/workspaces.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { MAX_LIFETIME_DAYS_LIMIT, type KeyPolicy } from '../rules/key-policy.ts';
import { builder } from './builder.ts';
import { mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg } from './guards.ts';
import { parseIdArg } from './ids.ts';
import { WorkspaceRef } from './workspace-ref.ts';

const KeyPolicyRef = builder.objectRef<KeyPolicy>('KeyPolicy').implement({
  description:
    'What API keys used inside a workspace must satisfy. A key that does not is refused there (FORBIDDEN, `extensions.reason: POLICY`, `extensions.policy` naming the rule) and keeps working elsewhere.',
  // Workspace settings: readable with workspaces:read, like the workspace itself.
  authScopes: { access: { resource: 'WORKSPACES', level: 'READ' } },
  fields: (t) => ({
    maxLifetimeDays: t.int({
      nullable: true,
      description: 'The longest a key may live, from its creation to its expiresAt, in days (a key that never expires breaks it); null: no limit.',
      resolve: (policy) => policy.maxLifetimeDays,
    }),
    requireExpiry: t.exposeBoolean('requireExpiry', { description: 'Keys must have an expiresAt.' }),
    requireIpAllowlist: t.exposeBoolean('requireIpAllowlist', { description: 'Keys must be limited to addresses (non-empty allowedIps).' }),
  }),
});

builder.objectField(WorkspaceRef, 'keyPolicy', (t) =>
  t.field({
    type: KeyPolicyRef,
    description: 'The rules API keys used inside this workspace must satisfy (workspaces:read); every rule off by default.',
    authScopes: { access: { resource: 'WORKSPACES', level: 'READ' } },
    resolve: (workspace) => keyPolicyOf(workspace),
  }),
);

const UpdateKeyPolicyInput = builder.inputType('UpdateWorkspaceKeyPolicyInput', {
  description: "Changes to a workspace's key policy (OWNER); omitted fields keep their value.",
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    maxLifetimeDays: t.int({ description: `The longest a key may live, in days (1–${MAX_LIFETIME_DAYS_LIMIT}); null removes the limit.` }),
    requireExpiry: t.boolean({ description: 'Whether keys must have an expiresAt.' }),
    requireIpAllowlist: t.boolean({ description: 'Whether keys must have allowedIps.' }),
  }),
});

const KeyPolicyPayload = builder.objectRef<{ workspace: WorkspaceDoc }>('WorkspaceKeyPolicyPayload').implement({
  description: 'The workspace after its key policy changed.',
  fields: (t) => ({
    workspace: t.field({ type: WorkspaceRef, description: 'The workspace.', resolve: (p) => p.workspace }),
    keyPolicy: t.field({ type: KeyPolicyRef, description: 'The policy now in force.', resolve: (p) => keyPolicyOf(p.workspace) }),
  }),
});

builder.mutationField('updateWorkspaceKeyPolicy', (t) =>
  t.field({
    type: KeyPolicyPayload,
    nullable: true,
    description:
      "Sets which API keys may be used inside a workspace (OWNER role, workspaces:write). Refused when the calling key would break the new policy itself: use a key that complies.",
    authScopes: onWorkspace('WORKSPACES', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('UpdateWorkspaceKeyPolicy', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: UpdateKeyPolicyInput, required: true, description: 'The workspace and the rules to change.' }) },
    resolve: async (_root, { input }, ctx) => {
      const workspaceId = parseIdArg(input.workspaceId, 'Workspace', 'input.workspaceId');
      return {
        workspace: await updateWorkspaceKeyPolicy(ctx, {
          workspaceId,
          maxLifetimeDays: input.maxLifetimeDays,
          requireExpiry: input.requireExpiry,
          requireIpAllowlist: input.requireIpAllowlist,
        }),
      };
    },
  }),
);
