import type { Types } from 'mongoose';
import { permissionName, RESOURCES, keyAccess, type Scope } from '../rules/permissions.ts';
import {
  createApiKey,
  deactivateApiKey,
  deleteApiKey,
  listApiKeys,
  MAX_GRACE_SECONDS,
  rotateApiKey,
  updateApiKey,
  type ApiKeyDoc,
} from '../core/api-keys.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { shownDomain } from '../rules/links.ts';
import { idleDeadline } from '../rules/keys.ts';
import type { Context } from '../context.ts';
import { builder } from './builder.ts';
import { AccessEnum, DeactivationReasonEnum, KeyStatusEnum, PermissionEnum, ResourceEnum } from './enums.ts';
import { mutationErrors } from './errors.ts';
import { parseGlobalId, parseIdArg, toGlobalId } from './ids.ts';
import { loadAll, loadByGlobalId } from './loaders.ts';
import { connectionType, paginateListing } from './pagination.ts';
import { ownUserOrPersonalData, UserRef } from './users.ts';
import { WorkspaceRef } from './workspace-ref.ts';

export const ScopeRef = builder.objectRef<Scope>('KeyScope').implement({
  description: 'Access to one resource granted to a LIMITED key.',
  fields: (t) => ({
    resource: t.expose('resource', { type: ResourceEnum, description: 'The resource.' }),
    access: t.expose('access', { type: AccessEnum, description: 'The access granted.' }),
  }),
});

export const ScopeInput = builder.inputType('KeyScopeInput', {
  description: 'Access to one resource for a LIMITED key.',
  fields: (t) => ({
    resource: t.field({ type: ResourceEnum, required: true, description: 'The resource.' }),
    access: t.field({ type: AccessEnum, required: true, description: 'READ or WRITE (ANALYTICS: READ only).' }),
  }),
});

export const ResourceAccessRef = builder.objectRef<{ resource: Scope['resource']; access: Scope['access'] }>('ResourceAccess').implement({
  description: 'The access a key has to one resource, before workspace roles.',
  fields: (t) => ({
    resource: t.expose('resource', { type: ResourceEnum, description: 'The resource.' }),
    access: t.expose('access', { type: AccessEnum, description: 'The access the key grants.' }),
    permission: t.string({
      description: 'The same as a permission name, e.g. `links:write` (`links:none` when none).',
      resolve: (row) => permissionName(row.resource, row.access),
    }),
  }),
});

export const ApiKeyRef = builder.objectRef<ApiKeyDoc>('ApiKey');

builder.node(ApiKeyRef, {
  description: "An API key of the viewer's user. The secret itself is never readable: only its hint.",
  // A key always sees itself; the user's other keys need keys:read (FULL or READ_ONLY).
  authScopes: (doc, ctx) =>
    ctx.key !== null && String(doc.userId) === ctx.key.userId && (String(doc._id) === ctx.key.id ? true : { keys: 'READ' as const }),
  id: { resolve: (doc) => String(doc._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.apiKey, ids),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'A name for people, e.g. "CI deploys".' }),
    hint: t.exposeString('hint', { description: 'The start and end of the secret, e.g. `taapit_AbCd…wXyZ`, to recognise it.' }),
    permission: t.expose('permission', { type: PermissionEnum, description: 'FULL, READ_ONLY or LIMITED.' }),
    scopes: t.field({
      type: [ScopeRef],
      description: 'For LIMITED keys, the access per resource; empty for the others.',
      resolve: (doc) => doc.scopes,
    }),
    access: t.field({
      type: [ResourceAccessRef],
      description: 'The access this key grants per resource (before workspace roles).',
      resolve: (doc) => RESOURCES.map((resource) => ({ resource, access: keyAccess(doc, resource) })),
    }),
    workspaces: t.field({
      type: [WorkspaceRef],
      description:
        "The workspaces this key is restricted to; empty means every workspace of the user. Like every list, it leaves out workspaces whose key policy the calling key breaks.",
      resolve: async (doc, _args, ctx) => {
        const [workspaces, shown] = await Promise.all([loadAll(ctx.loaders.workspace, doc.workspaces.map(String)), ctx.loaders.compliantWorkspaces()]);
        return workspaces.filter((w): w is NonNullable<typeof w> => w !== null && shown.has(String(w._id)));
      },
    }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'When the key stops working; null: never.' }),
    allowedIps: t.exposeStringList('allowedIps', { description: 'IPs and CIDRs allowed to use the key; empty: any.' }),
    rateLimit: t.int({
      nullable: true,
      description: 'Requests per minute allowed for this key; null: the server default.',
      resolve: (doc) => doc.rateLimit ?? null,
    }),
    allowedDestinations: t.stringList({
      description: 'Host patterns (`example.com`, `*.example.com`, in punycode) of the URLs links made with this key may send people to; empty: any.',
      resolve: (doc) => doc.allowedDestinations ?? [],
    }),
    allowedDomains: t.stringList({
      description: 'Host patterns of the short-link domains this key may create, change or delete links on (the platform domain by its current name); empty: any the user may use.',
      resolve: (doc, _args, ctx) => (doc.allowedDomains ?? []).map((pattern) => shownDomain(pattern, ctx.services.config.shortDomain)),
    }),
    idleTimeoutDays: t.int({
      nullable: true,
      description: 'Days without use after which the key is refused and then deactivated with reason IDLE; null: never.',
      resolve: (doc) => doc.idleTimeoutDays ?? null,
    }),
    pointsPerMinute: t.int({
      nullable: true,
      description: 'Query-cost points this key may spend per minute (see Query.rateLimit and extensions.cost); null: the server default.',
      resolve: (doc) => doc.pointsPerMinute ?? null,
    }),
    trustedDocumentsOnly: t.boolean({
      description: 'True: the key runs only documents registered as trusted for its workspaces (sent by documentId), never a raw query.',
      resolve: (doc) => doc.trustedDocumentsOnly ?? false,
    }),
    status: t.expose('status', { type: KeyStatusEnum, description: 'ACTIVE or DEACTIVATED.' }),
    deactivatedAt: t.expose('deactivatedAt', { type: 'DateTime', nullable: true, description: 'When it was deactivated.' }),
    deactivationReason: t.field({
      type: DeactivationReasonEnum,
      nullable: true,
      description: 'Why the key no longer works (deactivated; EXPIRED past expiresAt; IDLE past its idle timeout); null while it works.',
      resolve: (doc) => {
        if (doc.status === 'DEACTIVATED') return doc.deactivationReason ?? 'MANUAL';
        if (doc.expiresAt && doc.expiresAt.getTime() <= Date.now()) return 'EXPIRED';
        // Idle past its timeout: refused already, deactivated by the next run of the idle-key job.
        return (idleDeadline(doc) ?? Infinity) <= Date.now() ? 'IDLE' : null;
      },
    }),
    previousSecretExpiresAt: t.expose('previousSecretExpiresAt', {
      type: 'DateTime',
      nullable: true,
      description: 'After a rotation with a grace period: when the previous secret stops working.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the key was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the key was last changed.' }),
    lastUsedAt: t.expose('lastUsedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the key last authenticated a request (written in batches, a few seconds late).',
    }),
    lastUsedIp: t.string({ nullable: true, description: 'The address of that request.', resolve: (doc) => doc.lastUsedIp ?? null }),
    usageCount: t.exposeInt('usageCount', { description: 'Requests authenticated with this key (a few seconds late).' }),
    createdVia: t.string({
      description: 'How the key was made: API (by another key), CLI, or BOOTSTRAP (the first-start demo key).',
      resolve: (doc) => doc.createdVia,
    }),
    createdBy: t.field({
      type: ApiKeyRef,
      nullable: true,
      description: 'The key that created this one, if it was created through the API and still exists.',
      resolve: (doc, _args, ctx) => (doc.createdByKeyId ? ctx.loaders.apiKey.load(String(doc.createdByKeyId)) : null),
    }),
    user: t.field({
      type: UserRef,
      description: 'The owner of the key.',
      authScopes: ownUserOrPersonalData((doc) => doc.userId),
      resolve: async (doc, _args, ctx) => (await ctx.loaders.user.load(String(doc.userId)))!,
    }),
  }),
});

const ApiKeyFilter = builder.inputType('ApiKeyFilter', {
  description: 'Narrows the list of keys.',
  fields: (t) => ({
    status: t.field({ type: KeyStatusEnum, description: 'Only keys with this status.' }),
  }),
});

const keyConnection = connectionType(ApiKeyRef, 'ApiKey', 'API keys');

builder.queryField('apiKeys', (t) =>
  t.connection(
    {
      type: ApiKeyRef,
      nullable: true,
      description: "The viewer's user's API keys, newest first (metadata only; needs FULL or READ_ONLY).",
      authScopes: { keys: 'READ' },
      args: { filter: t.arg({ type: ApiKeyFilter, description: 'Filters.' }) },
      resolve: (_root, args, ctx) => paginateListing(listApiKeys(ctx, { status: args.filter?.status }), args),
    },
    keyConnection,
  ),
);

builder.queryField('apiKey', (t) =>
  t.field({
    type: ApiKeyRef,
    nullable: true,
    description: "One of the viewer's user's keys by id; null for unknown ids and other users' keys.",
    authScopes: { keys: 'READ' },
    args: { id: t.arg.id({ required: true, description: 'The global id of the key.' }) },
    resolve: (_root, args, ctx) => loadByGlobalId(ctx, 'apiKey', args.id, 'id'),
  }),
);

function parseWorkspaceIds(ids: readonly string[] | null | undefined): Types.ObjectId[] | null {
  if (!ids) return null;
  return ids.map((globalId, index) => parseIdArg(globalId, 'Workspace', `input.workspaceIds.${index}`));
}

const parseKeyId = (globalId: string) => parseIdArg(globalId, 'ApiKey', 'input.id');

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  description: 'A new key. It can never exceed the key that creates it.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'A name for people (1–100 characters).' }),
    permission: t.field({ type: PermissionEnum, required: true, description: 'FULL, READ_ONLY or LIMITED.' }),
    scopes: t.field({ type: [ScopeInput], description: 'For LIMITED: the access per resource.' }),
    workspaceIds: t.idList({ description: 'Restrict the key to these workspaces (global ids); omit for all.' }),
    expiresAt: t.field({ type: 'DateTime', description: "When the key stops working (no later than the creating key's expiry)." }),
    allowedIps: t.stringList({
      description: "IPs and CIDRs (IPv4/IPv6) allowed to use the key, each inside the creating key's allowedIps; omit for any (only a key without allowedIps may).",
    }),
    rateLimit: t.int({
      description: "Requests per minute for this key, at most the creating key's own limit; omit for the server default (only a key without its own rateLimit may).",
    }),
    allowedDestinations: t.stringList({
      description:
        "Host patterns the key's links may point to: `example.com` (that host) or `*.example.com` (every host below it); Unicode names are stored in punycode. Each must lie inside one of the creating key's; omit for any (only a key without allowedDestinations may).",
    }),
    allowedDomains: t.stringList({
      description:
        "Short-link domains (or `*.` patterns) the key may put links on; the platform's short domain by its name. Each must lie inside one of the creating key's; omit for any the user may use (only a key without allowedDomains may).",
    }),
    idleTimeoutDays: t.int({
      description: "Days (1–3650) without use after which the key stops working, at most the creating key's own; omit for never (only a key without idleTimeoutDays may).",
    }),
    pointsPerMinute: t.int({
      description: "Query-cost points per minute for this key, at most the creating key's own budget; omit for the server default (only a key without its own pointsPerMinute may).",
    }),
    trustedDocumentsOnly: t.boolean({
      description: 'True: the key may run only trusted documents registered for its workspaces, by documentId (default false; a creating key with it true may only create keys with it true).',
    }),
  }),
});

const CreateApiKeyPayload = builder.objectRef<{ apiKey: ApiKeyDoc; secret: string }>('CreateApiKeyPayload').implement({
  description: 'The created key and its secret.',
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, description: 'The new key.', resolve: (p) => p.apiKey }),
    secret: t.exposeString('secret', {
      description: 'The full key (taapit_…). Shown this once and never again: store it now.',
    }),
  }),
});

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: CreateApiKeyPayload,
    nullable: true,
    description: "Creates a key for the viewer's user (FULL keys only). The secret is in the payload, once.",
    authScopes: { keys: 'WRITE' },
    errors: mutationErrors('CreateApiKey', [ValidationError]),
    args: { input: t.arg({ type: CreateApiKeyInput, required: true, description: 'The key to create.' }) },
    resolve: async (_root, { input }, ctx) => {
      const created = await createApiKey(ctx, { ...input, workspaceIds: parseWorkspaceIds(input.workspaceIds) });
      return { apiKey: created.doc, secret: created.secret };
    },
  }),
);

const UpdateApiKeyInput = builder.inputType('UpdateApiKeyInput', {
  description: 'Changes to a key; omitted fields stay as they are. The result can never exceed the key making the change.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The global id of the key.' }),
    name: t.string({ description: 'A new name.' }),
    permission: t.field({ type: PermissionEnum, description: 'A new permission (give scopes with LIMITED).' }),
    scopes: t.field({ type: [ScopeInput], description: 'New scopes (LIMITED keys).' }),
    workspaceIds: t.idList({ description: 'A new workspace restriction; an empty list removes it.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'A new expiry.' }),
    allowedIps: t.stringList({
      description: "New allowed IPs and CIDRs, each inside the changing key's allowedIps; an empty list allows any (only a key without allowedIps may set it).",
    }),
    rateLimit: t.int({
      description: "New requests per minute, at most the changing key's own limit; null returns to the server default (only a key without its own rateLimit may).",
    }),
    allowedDestinations: t.stringList({
      description: "New destination host patterns, each inside one of the changing key's; an empty list allows any (only a key without allowedDestinations may set it).",
    }),
    allowedDomains: t.stringList({
      description: "New short-link domain patterns, each inside one of the changing key's; an empty list allows any (only a key without allowedDomains may set it).",
    }),
    idleTimeoutDays: t.int({
      description: "New idle timeout in days (1–3650), at most the changing key's own; null removes it (only a key without idleTimeoutDays may).",
    }),
    pointsPerMinute: t.int({
      description: "New query-cost points per minute, at most the changing key's own budget; null returns to the server default (only a key without its own pointsPerMinute may).",
    }),
    trustedDocumentsOnly: t.boolean({
      description: 'True limits the key to trusted documents sent by documentId; false lifts it (only a key without the restriction may); omit or null to keep it.',
    }),
  }),
});

const ApiKeyPayload = builder.objectRef<{ apiKey: ApiKeyDoc }>('ApiKeyPayload').implement({
  description: 'The key after the change.',
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, description: 'The key.', resolve: (p) => p.apiKey }),
  }),
});

builder.mutationField('updateApiKey', (t) =>
  t.field({
    type: ApiKeyPayload,
    nullable: true,
    description: "Changes a key's name, permission, scopes, workspaces, expiry, allowed IPs or rate limit (FULL keys only).",
    authScopes: { keys: 'WRITE' },
    errors: mutationErrors('UpdateApiKey', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: UpdateApiKeyInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => ({
      apiKey: await updateApiKey(ctx, {
        ...input,
        id: parseKeyId(input.id),
        workspaceIds: parseWorkspaceIds(input.workspaceIds),
      }),
    }),
  }),
);

const RotateApiKeyInput = builder.inputType('RotateApiKeyInput', {
  description: 'Which key to give a new secret, and how long the old secret keeps working.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The global id of the key.' }),
    gracePeriodSeconds: t.int({
      description: `Seconds the old secret keeps working (0 to ${MAX_GRACE_SECONDS}, default 0: refused at once).`,
    }),
  }),
});

builder.mutationField('rotateApiKey', (t) =>
  t.field({
    type: CreateApiKeyPayload,
    nullable: true,
    description: 'Gives a key a new secret, returned once; the old secret works until the grace period ends (FULL keys only).',
    authScopes: { keys: 'WRITE' },
    errors: mutationErrors('RotateApiKey', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: RotateApiKeyInput, required: true, description: 'The key and grace period.' }) },
    resolve: async (_root, { input }, ctx) => {
      const rotated = await rotateApiKey(ctx, { id: parseKeyId(input.id), gracePeriodSeconds: input.gracePeriodSeconds });
      return { apiKey: rotated.doc, secret: rotated.secret };
    },
  }),
);

const KeyIdInput = builder.inputType('ApiKeyIdInput', {
  description: 'Identifies one key.',
  fields: (t) => ({ id: t.id({ required: true, description: 'The global id of the key.' }) }),
});

builder.mutationField('deactivateApiKey', (t) =>
  t.field({
    type: ApiKeyPayload,
    nullable: true,
    description:
      'Deactivates a key for good: it is refused from the next request on. Any key may deactivate itself; FULL keys may deactivate the user\'s others.',
    // Deactivating itself is always allowed (a leaked key can be killed with itself).
    authScopes: (_root, args, ctx) =>
      ctx.key !== null && String(parseGlobalId(args.input.id, 'ApiKey')) === ctx.key.id
        ? { authenticated: true }
        : { keys: 'WRITE' },
    errors: mutationErrors('DeactivateApiKey', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: KeyIdInput, required: true, description: 'The key to deactivate.' }) },
    resolve: async (_root, { input }, ctx) => ({ apiKey: await deactivateApiKey(ctx, parseKeyId(input.id)) }),
  }),
);

const DeleteApiKeyPayload = builder.objectRef<{ deletedId: string }>('DeleteApiKeyPayload').implement({
  description: 'The id of the deleted key.',
  fields: (t) => ({ deletedId: t.exposeID('deletedId', { description: 'The global id the key had.' }) }),
});

builder.mutationField('deleteApiKey', (t) =>
  t.field({
    type: DeleteApiKeyPayload,
    nullable: true,
    description: 'Deletes a key for good; it is refused from the next request on (FULL keys only).',
    authScopes: { keys: 'WRITE' },
    errors: mutationErrors('DeleteApiKey', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: KeyIdInput, required: true, description: 'The key to delete.' }) },
    resolve: async (_root, { input }, ctx) => {
      const deleted = await deleteApiKey(ctx, parseKeyId(input.id));
      return { deletedId: toGlobalId('ApiKey', deleted._id) };
    },
  }),
);
