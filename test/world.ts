import { randomBytes } from 'node:crypto';
import type { Types } from 'mongoose';
import type { Role } from '../src/rules/permissions.ts';
import { Domain } from '../src/models/domain.ts';
import { INVITATION_LIFETIME_MS, Invitation, invitationId } from '../src/models/invitation.ts';
import { Link } from '../src/models/link.ts';
import { Project } from '../src/models/project.ts';
import type { UserDoc } from '../src/models/user.ts';
import { gid, makeUser, makeWorkspace } from './helpers.ts';

/** A DNS zone (a txtResolver) in which every domain has published its verification record: verifyDomain succeeds. */
export const publishedZone = async (name: string): Promise<string[]> => {
  const domain = await Domain.findOne({ hostname: name.replace(/^_taapit-verify\./, '') }).lean();
  return domain ? [`taapit-verify=${domain.verificationToken}`] : [];
};

/** Global ids of one workspace's objects, the targets an operation acts on. */
export interface Target {
  workspaceId: string;
  projectId: string;
  linkId: string;
  domainId: string;
  unverifiedDomainId: string;
  unverifiedHostname: string;
  memberUserId: string;
  newMemberEmail: string;
  /** A pending invitation of the actor to this workspace, sent by its owner. */
  invitationId: string;
  keyId: string;
  raw: { workspaceId: Types.ObjectId; linkId: Types.ObjectId; hostname: string };
}

export const host = () => `d${randomBytes(5).toString('hex')}.example.com`;

/**
 * A workspace owned by a fresh user, with `actor` in it at `role` (or not at all when null),
 * holding a project, a verified domain with a link, an unverified domain, a VIEWER member and a
 * pending invitation of `actor`.
 */
export async function makeTarget(actor: UserDoc, role: Role | null, actorKeyId: string): Promise<Target> {
  const owner = await makeUser('owner');
  const viewer = await makeUser('viewer');
  const newcomer = await makeUser('newcomer');
  const members: [UserDoc, Role][] = [[viewer, 'VIEWER']];
  if (role) members.push([actor, role]);
  const workspace = await makeWorkspace(owner, 'target', members);
  const project = await Project.create({ workspaceId: workspace._id, name: 'p' });
  const hostname = host();
  const domain = await Domain.create({ workspaceId: workspace._id, hostname, verified: true, verificationToken: 't1' });
  const unverifiedHostname = host();
  const unverified = await Domain.create({ workspaceId: workspace._id, hostname: unverifiedHostname, verificationToken: randomBytes(8).toString('hex') });
  const link = await Link.create({
    workspaceId: workspace._id,
    domain: hostname,
    slug: randomBytes(4).toString('hex'),
    url: 'https://example.com/',
    projectId: project._id,
    createdByUserId: owner._id,
  });
  const now = new Date();
  const invitation = await Invitation.create({
    _id: invitationId(workspace._id, actor.email),
    workspaceId: workspace._id,
    email: actor.email,
    role: 'MEMBER',
    status: 'PENDING',
    invitedByUserId: owner._id,
    createdAt: now,
    expiresAt: new Date(now.getTime() + INVITATION_LIFETIME_MS),
    updatedAt: now,
  });
  return {
    workspaceId: gid('Workspace', workspace._id),
    projectId: gid('Project', project._id),
    linkId: gid('Link', link._id),
    domainId: gid('Domain', domain._id),
    unverifiedDomainId: gid('Domain', unverified._id),
    unverifiedHostname,
    memberUserId: gid('User', viewer._id),
    newMemberEmail: newcomer.email,
    invitationId: gid('WorkspaceInvitation', invitation._id),
    keyId: actorKeyId,
    raw: { workspaceId: workspace._id, linkId: link._id, hostname },
  };
}

/** Ids of the right types that exist nowhere. */
export function ghostTarget(): Target {
  const oid = () => randomBytes(12).toString('hex');
  return {
    workspaceId: gid('Workspace', oid()),
    projectId: gid('Project', oid()),
    linkId: gid('Link', oid()),
    domainId: gid('Domain', oid()),
    unverifiedDomainId: gid('Domain', oid()),
    unverifiedHostname: host(),
    memberUserId: gid('User', oid()),
    newMemberEmail: 'nobody@example.com',
    invitationId: gid('WorkspaceInvitation', oid()),
    keyId: gid('ApiKey', oid()),
    raw: {} as Target['raw'],
  };
}
