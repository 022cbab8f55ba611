import { randomBytes } from 'node:crypto';
import type { Context } from '../context.ts';
import { validateDestination } from '../core/destinations.ts';
import { destinationHost, validateHostname } from '../rules/validation.ts';
import { ConflictError, isDuplicateKeyError, NotFoundError, ValidationError, VerificationFailedError } from '../errors.ts';
import { Domain, type DomainDoc } from '../models/domain.ts';
import { Link } from '../models/link.ts';
import { builder } from './builder.ts';
import { ErrorInterface, mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg, workspaceOf } from './guards.ts';
import { toGlobalId } from './ids.ts';
import { loadAll, loadByGlobalId, requireByGlobalId } from './loaders.ts';
import { connectionType } from './pagination.ts';
import { workspaceLists } from './workspace-lists.ts';
import { WorkspaceRef } from './workspace-ref.ts';
import { DeletedPayload } from './workspaces.ts';

export const VERIFICATION_PREFIX = '_taapit-verify';

builder.objectType(VerificationFailedError, {
  name: 'VerificationFailedError',
  description: 'The DNS record that proves ownership was not found; nothing was changed.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof VerificationFailedError,
});

export function verificationRecord(domain: Pick<DomainDoc, 'hostname' | 'verificationToken'>) {
  return { type: 'TXT', name: `${VERIFICATION_PREFIX}.${domain.hostname}`, value: `taapit-verify=${domain.verificationToken}` };
}

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
  authScopes: (domain) => ({ visibleWorkspace: String(domain.workspaceId), access: { resource: 'DOMAINS', level: 'READ' } }),
  id: { resolve: (domain) => String(domain._id) },
  loadMany: (ids, ctx: Context) => loadAll(ctx.loaders.domain, ids),
  isTypeOf: (value) => value instanceof Object && 'hostname' in value && 'verificationToken' in value,
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

workspaceLists({ field: 'domains', plural: 'custom domains', resource: 'DOMAINS', type: DomainRef, model: Domain, connection: domainConnection });

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

const domainWorkspace = ({ input }: { input: { id: string } }, ctx: Context) => workspaceOf(ctx, 'domain', input.id);

builder.mutationField('addDomain', (t) =>
  t.field({
    type: DomainPayload,
    nullable: true,
    description: 'Adds a custom domain to a workspace (domains:write; OWNER). Publish `verification`, then call verifyDomain.',
    authScopes: onWorkspace('DOMAINS', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('AddDomain', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: AddDomainInput, required: true, description: 'The domain.' }) },
    resolve: async (_root, { input }, ctx) => {
      const workspace = await requireByGlobalId(ctx, 'workspace', input.workspaceId, 'input.workspaceId');
      const hostname = validateHostname(input.hostname, 'input.hostname');
      if (hostname === ctx.services.config.shortDomain.replace(/:\d+$/, '')) {
        throw new ValidationError('input.hostname', `${hostname} is the platform's own short domain; every workspace can use it already`);
      }
      const notFoundUrl = input.notFoundUrl
        ? await validateDestination(input.notFoundUrl, 'input.notFoundUrl', { shortDomain: ctx.services.config.shortDomain, workspaceId: workspace._id })
        : null;
      // The domain is not stored yet, so the check above cannot see it.
      if (notFoundUrl && destinationHost(new URL(notFoundUrl)) === hostname) {
        throw new ValidationError('input.notFoundUrl', `${hostname} is the domain itself: its not-found page would redirect to itself; use another site`);
      }
      try {
        const domain = await Domain.create({
          workspaceId: workspace._id,
          hostname,
          notFoundUrl,
          verificationToken: randomBytes(16).toString('hex'),
        });
        return { domain: domain.toObject() };
      } catch (error) {
        if (isDuplicateKeyError(error)) throw new ConflictError('input.hostname', `${hostname} is already registered on this platform`);
        throw error;
      }
    },
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
    authScopes: onWorkspace('DOMAINS', 'WRITE', domainWorkspace),
    errors: mutationErrors('VerifyDomain', [ValidationError, NotFoundError, VerificationFailedError]),
    args: { input: t.arg({ type: DomainIdInput, required: true, description: 'The domain to verify.' }) },
    resolve: async (_root, { input }, ctx) => {
      const domain = await requireByGlobalId(ctx, 'domain', input.id, 'input.id');
      if (domain.verified) return { domain };
      const record = verificationRecord(domain);
      let found: string[];
      try {
        found = await ctx.services.txtResolver(record.name);
      } catch (error) {
        throw new VerificationFailedError(`DNS lookup of ${record.name} failed (${(error as NodeJS.ErrnoException).code ?? 'error'}); try again later`);
      }
      if (!found.includes(record.value)) {
        throw new VerificationFailedError(
          `TXT record ${record.name} = "${record.value}" not found${found.length ? ` (found: ${found.map((v) => `"${v}"`).join(', ')})` : ''}; publish it and retry (DNS changes can take minutes)`,
        );
      }
      const updated = await Domain.findOneAndUpdate({ _id: domain._id }, { $set: { verified: true, verifiedAt: new Date() } }, { new: true })
        .lean<DomainDoc>()
        .exec();
      if (!updated) throw new NotFoundError('Domain');
      // This instance may have cached the host as unverified (a 404): serve it from now on.
      ctx.services.linkCache.invalidateHost(domain.hostname);
      return { domain: updated };
    },
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
    authScopes: onWorkspace('DOMAINS', 'WRITE', domainWorkspace),
    errors: mutationErrors('UpdateDomain', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: UpdateDomainInput, required: true, description: 'The changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const domain = await requireByGlobalId(ctx, 'domain', input.id, 'input.id');
      const set: Partial<DomainDoc> = {};
      if (input.notFoundUrl !== undefined) {
        set.notFoundUrl =
          input.notFoundUrl === null
            ? null
            : await validateDestination(input.notFoundUrl, 'input.notFoundUrl', { shortDomain: ctx.services.config.shortDomain, workspaceId: domain.workspaceId });
      }
      if (input.primary === true && !domain.verified) {
        throw new ValidationError('input.primary', 'verify the domain before making it primary');
      }
      if (typeof input.primary === 'boolean') set.primary = input.primary;
      // Two writes, safe to repeat: unset the other primaries, then set this one.
      if (input.primary === true) await Domain.updateMany({ workspaceId: domain.workspaceId, _id: { $ne: domain._id } }, { $set: { primary: false } });
      const updated = await Domain.findOneAndUpdate({ _id: domain._id }, { $set: set }, { new: true }).lean<DomainDoc>().exec();
      if (!updated) throw new NotFoundError('Domain');
      ctx.services.linkCache.invalidateHost(domain.hostname);
      return { domain: updated };
    },
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
    authScopes: onWorkspace('DOMAINS', 'WRITE', domainWorkspace),
    errors: mutationErrors('DeleteDomain', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: DeleteDomainInput, required: true, description: 'The domain and what to do with its links.' }) },
    resolve: async (_root, { input }, ctx) => {
      const domain = await requireByGlobalId(ctx, 'domain', input.id, 'input.id');
      const links = await Link.countDocuments({ domain: domain.hostname });
      if (links > 0 && !input.archiveLinks) {
        throw new ConflictError('input.archiveLinks', `${domain.hostname} still has ${links} link(s); pass archiveLinks: true to archive them, or move them to another domain first`);
      }
      if (links > 0) {
        // Archived links keep their slugs but leave the hostname, so a later owner of it starts clean.
        await Link.updateMany(
          { domain: domain.hostname },
          { $set: { archived: true, domain: `${domain.hostname}#deleted-${domain._id}` } },
        );
      }
      await Domain.deleteOne({ _id: domain._id });
      ctx.services.linkCache.invalidateHost(domain.hostname);
      return { deletedId: toGlobalId('Domain', domain._id) };
    },
  }),
);
