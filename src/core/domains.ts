import { randomBytes } from 'node:crypto';
import type { Types } from 'mongoose';
import { ConflictError, isDuplicateKeyError, NotFoundError, ValidationError } from '../errors.ts';
import { Domain, type DomainDoc } from '../models/domain.ts';
import { Link } from '../models/link.ts';
import { destinationHost, validateHostname } from '../rules/validation.ts';
import type { Actor } from './actor.ts';
import { announceChange } from './changes.ts';
import { audit, changesOf } from './audit.ts';
import { validateDestination } from './destinations.ts';
import { assertDestinationAllowed, assertDomainAllowed } from './key-restrictions.ts';
import { archiveLinksOffHost } from './links.ts';
import { requireTxtRecord } from './dns.ts';
import { listing, newestFirst, scopeWorkspaceIds, type Listing, type WorkspaceScope } from './listing.ts';

export type { DomainDoc } from '../models/domain.ts';

export const VERIFICATION_PREFIX = '_taapit-verify';

/** The TXT record whose presence proves that the workspace controls the domain. */
export function verificationRecord(domain: Pick<DomainDoc, 'hostname' | 'verificationToken'>) {
  return { type: 'TXT', name: `${VERIFICATION_PREFIX}.${domain.hostname}`, value: `taapit-verify=${domain.verificationToken}` };
}

/** A domain the actor may see, or NotFoundError (the same answer for one it may not see). */
async function visibleDomain(actor: Actor, id: Types.ObjectId): Promise<DomainDoc> {
  const domain = await actor.loaders.domain.load(String(id));
  if (!domain) throw new NotFoundError('Domain');
  return domain;
}

/** The custom domains of one visible workspace, or of every visible one, newest first. */
export async function listDomains(actor: Actor, scope: WorkspaceScope): Promise<Listing<DomainDoc>> {
  return listing(Domain, { workspaceId: { $in: await scopeWorkspaceIds(actor, scope) } }, newestFirst('domain'));
}

/** A domain's not-found page sends people somewhere from that domain: both restrictions of the key apply. */
function restrictNotFoundUrl(actor: Actor, hostname: string, url: string, field: string): void {
  assertDomainAllowed(actor, hostname, field);
  assertDestinationAllowed(actor, url, field);
}

export interface AddDomainInput {
  workspaceId: Types.ObjectId;
  hostname: string;
  notFoundUrl?: string | null;
}

export async function addDomain(actor: Actor, input: AddDomainInput, at = 'input'): Promise<DomainDoc> {
  const workspace = await actor.loaders.workspace.load(String(input.workspaceId));
  if (!workspace) throw new NotFoundError('Workspace');
  const hostname = validateHostname(input.hostname, `${at}.hostname`);
  const { shortDomain } = actor.services.config;
  if (hostname === shortDomain.replace(/:\d+$/, '')) {
    throw new ValidationError(`${at}.hostname`, `${hostname} is the platform's own short domain; every workspace can use it already`);
  }
  const notFoundUrl = input.notFoundUrl
    ? await validateDestination(input.notFoundUrl, `${at}.notFoundUrl`, { shortDomain, workspaceId: workspace._id })
    : null;
  if (notFoundUrl) restrictNotFoundUrl(actor, hostname, notFoundUrl, `${at}.notFoundUrl`);
  // The domain is not stored yet, so the check above cannot see it.
  if (notFoundUrl && destinationHost(new URL(notFoundUrl)) === hostname) {
    throw new ValidationError(`${at}.notFoundUrl`, `${hostname} is the domain itself: its not-found page would redirect to itself; use another site`);
  }
  try {
    const domain = (await Domain.create({ workspaceId: workspace._id, hostname, notFoundUrl, verificationToken: randomBytes(16).toString('hex') })).toObject();
    await audit(actor, { action: 'domain.added', target: { type: 'Domain', id: domain._id }, workspaceId: domain.workspaceId, changes: changesOf(null, domain, ['hostname', 'notFoundUrl']) });
    return domain;
  } catch (error) {
    if (isDuplicateKeyError(error)) throw new ConflictError(`${at}.hostname`, `${hostname} is already registered on this platform`);
    throw error;
  }
}

export interface DomainIdInput {
  id: Types.ObjectId;
}

/** Marks the domain verified once its TXT record is published; a verified domain stays as it is. */
export async function verifyDomain(actor: Actor, input: DomainIdInput, _at = 'input'): Promise<DomainDoc> {
  const domain = await visibleDomain(actor, input.id);
  if (domain.verified) return domain;
  const record = verificationRecord(domain);
  await requireTxtRecord(actor.services.txtResolver, record.name, record.value);
  const updated = await Domain.findOneAndUpdate({ _id: domain._id }, { $set: { verified: true, verifiedAt: new Date() } }, { returnDocument: 'after' })
    .lean<DomainDoc>()
    .exec();
  if (!updated) throw new NotFoundError('Domain');
  // This instance may have cached the host as unverified (a 404): serve it from now on.
  actor.services.linkCache.invalidateHost(domain.hostname);
  await announceChange(actor, 'domain', domain._id);
  await audit(actor, { action: 'domain.verified', target: { type: 'Domain', id: domain._id }, workspaceId: domain.workspaceId, changes: changesOf(domain, updated, ['verified']) });
  return updated;
}

export interface UpdateDomainInput {
  id: Types.ObjectId;
  /** undefined keeps it, null clears it. */
  notFoundUrl?: string | null;
  primary?: boolean | null;
}

export async function updateDomain(actor: Actor, input: UpdateDomainInput, at = 'input'): Promise<DomainDoc> {
  const domain = await visibleDomain(actor, input.id);
  const set: Partial<DomainDoc> = {};
  if (input.notFoundUrl !== undefined) {
    set.notFoundUrl =
      input.notFoundUrl === null
        ? null
        : await validateDestination(input.notFoundUrl, `${at}.notFoundUrl`, { shortDomain: actor.services.config.shortDomain, workspaceId: domain.workspaceId });
    if (set.notFoundUrl) restrictNotFoundUrl(actor, domain.hostname, set.notFoundUrl, `${at}.notFoundUrl`);
  }
  if (input.primary === true && !domain.verified) {
    throw new ValidationError(`${at}.primary`, 'verify the domain before making it primary');
  }
  if (typeof input.primary === 'boolean') set.primary = input.primary;
  // Two writes, safe to repeat: unset the other primaries, then set this one.
  if (input.primary === true) await Domain.updateMany({ workspaceId: domain.workspaceId, _id: { $ne: domain._id } }, { $set: { primary: false } });
  const updated = await Domain.findOneAndUpdate({ _id: domain._id }, { $set: set }, { returnDocument: 'after' }).lean<DomainDoc>().exec();
  if (!updated) throw new NotFoundError('Domain');
  actor.services.linkCache.invalidateHost(domain.hostname);
  // A new primary also changed the workspace's other domains: a workspace change drops them all.
  if (input.primary === true) await announceChange(actor, 'workspace', domain.workspaceId);
  else await announceChange(actor, 'domain', domain._id);
  await audit(actor, { action: 'domain.updated', target: { type: 'Domain', id: domain._id }, workspaceId: domain.workspaceId, changes: changesOf(domain, set) });
  return updated;
}

export interface DeleteDomainInput {
  id: Types.ObjectId;
  /** Archive the links still on the domain; without it a domain with links is not deleted. */
  archiveLinks?: boolean | null;
}

/** Deletes the domain and returns it as it was. */
export async function deleteDomain(actor: Actor, input: DeleteDomainInput, at = 'input'): Promise<DomainDoc> {
  const domain = await visibleDomain(actor, input.id);
  const links = await Link.countDocuments({ domain: domain.hostname });
  if (links > 0 && !input.archiveLinks) {
    throw new ConflictError(
      `${at}.archiveLinks`,
      `${domain.hostname} still has ${links} link(s); pass archiveLinks: true to archive them, or move them to another domain first`,
    );
  }
  if (links > 0) {
    // Archived links keep their slugs but leave the hostname, so a later owner of it starts clean.
    await archiveLinksOffHost(domain.hostname, `${domain.hostname}#deleted-${domain._id}`);
  }
  await Domain.deleteOne({ _id: domain._id });
  actor.services.linkCache.invalidateHost(domain.hostname);
  await announceChange(actor, 'domain', domain._id);
  await audit(actor, { action: 'domain.deleted', target: { type: 'Domain', id: domain._id }, workspaceId: domain.workspaceId, changes: changesOf(domain, null, ['hostname']) });
  return domain;
}
