import type { Context } from '../context.ts';
import { addDomain, deleteDomain, listDomains, updateDomain, verificationRecord, verifyDomain, type DomainDoc } from '../core/domains.ts';
import { ConflictError, NotFoundError, ValidationError, VerificationFailedError } from '../errors.ts';
import { builder } from './builder.ts';
import { ErrorInterface, mutationErrors } from './errors.ts';
import { onOwned, onWorkspace, readableOwned, workspaceArg } from './guards.ts';
import { parseIdArg, toGlobalId } from './ids.ts';
import { loadAll, loadByGlobalId } from './loaders.ts';
import { connectionType } from './pagination.ts';
import { workspaceLists } from './workspace-lists.ts';
import { WorkspaceRef } from './workspace-ref.ts';
import { DeletedPayload } from './workspaces.ts';

builder.objectType(VerificationFailedError, {
  name: 'VerificationFailedError',
  description: 'The DNS record that proves ownership was not found; nothing was changed.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof VerificationFailedError,
});

const VerificationRef = builder.objectRef<ReturnType<typeof verificationRecord>>('DomainVerification').implement({
  description: 'The DNS record to publish to prove that the workspace controls a domain.',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'The record type: TXT.' }),
    name: t.exposeString('name', { description: 'The record name, e.g. _taapit-verify.go.example.com.' }),
    value: t.exposeString('value', { description: 'The exact record value.' }),
  }),
});

export const DomainRef = builder.objectRef<DomainDoc>('Domain');

builder.node(DomainRef, {
  description: 'A custom short-link domain of a workspace. A hostname belongs to one workspace platform-wide.',
  authScopes: readableOwned('domain'),
  id: { resolve: (domain) => String(domain._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.domain, ids),
  fields: (t) => ({
    hostname: t.exposeString('hostname', { description: 'The domain name, lowercased.' }),
    verified: t.exposeBoolean('verified', { description: 'True once the TXT record was found; only verified domains take links.' }),
    verifiedAt: t.expose('verifiedAt', { type: 'DateTime', nullable: true, description: 'When it was verified.' }),
    verification: t.field({
      type: VerificationRef,
      description: 'The TXT record to publish before calling verifyDomain.',
      resolve: (domain) => verificationRecord(domain),
    }),
    primary: t.exposeBoolean('primary', { description: 'The default domain for new links of the workspace.' }),
    notFoundUrl: t.string({
      nullable: true,
      description: 'Where unknown, expired or archived links on this domain redirect instead of answering 404/410.',
      resolve: (domain) => domain.notFoundUrl ?? null,
    }),
    workspace: t.field({
      type: WorkspaceRef,
      description: 'The owning workspace.',
      resolve: async (domain, _args, ctx) => (await ctx.loaders.workspace.load(String(domain.workspaceId)))!,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was added.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed.' }),
  }),
});

const domainConnection = connectionType(DomainRef, 'Domain', 'domains');

workspaceLists({ field: 'domains', plural: 'custom domains', resource: 'DOMAINS', type: DomainRef, list: listDomains, connection: domainConnection });

builder.queryField('domain', (t) =>
  t.field({
    type: DomainRef,
    nullable: true,
    description: 'One domain by id; null when it does not exist or this key cannot see it.',
    authScopes: { access: { resource: 'DOMAINS', level: 'READ' } },
    args: { id: t.arg.id({ required: true, description: 'The global id of the domain.' }) },
    resolve: (_root, args, ctx) => loadByGlobalId(ctx, 'domain', args.id, 'id'),
  }),
);



const DomainPayload = builder.objectRef<{ domain: DomainDoc }>('DomainPayload').implement({
  description: 'The domain after the change.',
  fields: (t) => ({ domain: t.field({ type: DomainRef, description: 'The domain.', resolve: (p) => p.domain }) }),
});

const AddDomainInput = builder.inputType('AddDomainInput', {
  description: 'A custom domain to add; it must then be verified with a TXT record.',
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    hostname: t.string({ required: true, description: 'The domain name, e.g. go.example.com.' }),
    notFoundUrl: t.string({ description: 'Where unknown or gone links redirect (absolute http/https URL).' }),
  }),
});

builder.mutationField('addDomain', (t) =>
  t.field({
    type: DomainPayload,
    nullable: true,
    description: 'Adds a custom domain to a workspace (domains:write; OWNER). Publish `verification`, then call verifyDomain.',
    authScopes: onWorkspace('DOMAINS', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('AddDomain', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: AddDomainInput, required: true, description: 'The domain.' }) },
    resolve: async (_root, { input }, ctx) => ({
      domain: await addDomain(ctx, {
        workspaceId: parseIdArg(input.workspaceId, 'Workspace', 'input.workspaceId'),
        hostname: input.hostname,
        notFoundUrl: input.notFoundUrl,
      }),
    }),
  }),
);

const DomainIdInput = builder.inputType('DomainIdInput', {
  description: 'Identifies one domain.',
  fields: (t) => ({ id: t.id({ required: true, description: 'The global id of the domain.' }) }),
});

builder.mutationField('verifyDomain', (t) =>
  t.field({
    type: DomainPayload,
    nullable: true,
    description: 'Looks up the verification TXT record and marks the domain verified when it is there (domains:write; OWNER).',
    authScopes: onOwned('domain', 'WRITE'),
    errors: mutationErrors('VerifyDomain', [ValidationError, NotFoundError, VerificationFailedError]),
    args: { input: t.arg({ type: DomainIdInput, required: true, description: 'The domain to verify.' }) },
    resolve: async (_root, { input }, ctx) => ({ domain: await verifyDomain(ctx, { id: parseIdArg(input.id, 'Domain', 'input.id') }) }),
  }),
);

const UpdateDomainInput = builder.inputType('UpdateDomainInput', {
  description: 'Changes to a domain.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The global id of the domain.' }),
    notFoundUrl: t.string({ description: 'Where unknown or gone links redirect; null clears it.' }),
    primary: t.boolean({ description: "True makes it the workspace's default domain for new links (it must be verified)." }),
  }),
});

builder.mutationField('updateDomain', (t) =>
  t.field({
    type: DomainPayload,
    nullable: true,
    description: 'Changes the not-found URL or primary flag of a domain (domains:write; OWNER).',
    authScopes: onOwned('domain', 'WRITE'),
    errors: mutationErrors('UpdateDomain', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: UpdateDomainInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => ({
      domain: await updateDomain(ctx, { id: parseIdArg(input.id, 'Domain', 'input.id'), notFoundUrl: input.notFoundUrl, primary: input.primary }),
    }),
  }),
);

const DeleteDomainInput = builder.inputType('DeleteDomainInput', {
  description: 'A domain to delete.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The global id of the domain.' }),
    archiveLinks: t.boolean({
      description: 'Archive the links that still use the domain (they stop redirecting); without it a domain with links is not deleted.',
    }),
  }),
});

builder.mutationField('deleteDomain', (t) =>
  t.field({
    type: DeletedPayload,
    nullable: true,
    description: 'Deletes a custom domain (domains:write; OWNER). Refused while links use it, unless archiveLinks is true.',
    authScopes: onOwned('domain', 'WRITE'),
    errors: mutationErrors('DeleteDomain', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: DeleteDomainInput, required: true, description: 'The domain and what to do with its links.' }) },
    resolve: async (_root, { input }, ctx) => {
      const domain = await deleteDomain(ctx, { id: parseIdArg(input.id, 'Domain', 'input.id'), archiveLinks: input.archiveLinks });
      return { deletedId: toGlobalId('Domain', domain._id) };
    },
  }),
);
