import type { Access, Resource, Role } from '../src/rules/permissions.ts';
import { host, type Target } from './world.ts';

/**
 * Every root query and mutation, once, with what it needs. The isolation, permission and
 * READ_ONLY tests all run from this table, and a test fails when the schema has a root field
 * that is not in it, so a new resource cannot be forgotten.
 */
export interface Operation {
  field: string;
  kind: 'query' | 'mutation';
  /** The permission it needs from the key; KEYS for key management. */
  resource: Resource | 'KEYS';
  level: Access;
  /** The least workspace role that may do it; null when no workspace is involved. */
  role: Role | null;
  document: string;
  variables(target: Target): Record<string, unknown>;
  /** Operations that take no workspace or object id cannot be aimed at another tenant. */
  targetless?: boolean;
}

const m = (field: string, inputType: string, selection: string) =>
  `mutation($input: ${inputType}!) { ${field}(input: $input) { __typename ${selection} ... on Error { code message } } }`;

export const OPERATIONS: Operation[] = [
  // Queries
  { field: 'viewer', kind: 'query', resource: 'KEYS', level: 'NONE', role: null, targetless: true, document: '{ viewer { key { id } } }', variables: () => ({}) },
  { field: 'rateLimit', kind: 'query', resource: 'KEYS', level: 'NONE', role: null, targetless: true, document: '{ rateLimit { limit cost remaining used resetAt } }', variables: () => ({}) },
  { field: 'apiKeys', kind: 'query', resource: 'KEYS', level: 'READ', role: null, targetless: true, document: '{ apiKeys(first: 5) { totalCount } }', variables: () => ({}) },
  { field: 'apiKey', kind: 'query', resource: 'KEYS', level: 'READ', role: null, document: 'query($id: ID!) { apiKey(id: $id) { id } }', variables: (t) => ({ id: t.keyId }) },
  { field: 'workspaces', kind: 'query', resource: 'WORKSPACES', level: 'READ', role: null, targetless: true, document: '{ workspaces(first: 5) { totalCount } }', variables: () => ({}) },
  { field: 'workspace', kind: 'query', resource: 'WORKSPACES', level: 'READ', role: 'VIEWER', document: 'query($id: ID!) { workspace(id: $id) { id name } }', variables: (t) => ({ id: t.workspaceId }) },
  { field: 'projects', kind: 'query', resource: 'PROJECTS', level: 'READ', role: 'VIEWER', document: 'query($w: ID) { projects(workspaceId: $w, first: 5) { totalCount edges { node { id } } } }', variables: (t) => ({ w: t.workspaceId }) },
  { field: 'links', kind: 'query', resource: 'LINKS', level: 'READ', role: 'VIEWER', document: 'query($w: ID) { links(workspaceId: $w, first: 5) { totalCount edges { node { id } } } }', variables: (t) => ({ w: t.workspaceId }) },
  { field: 'link', kind: 'query', resource: 'LINKS', level: 'READ', role: 'VIEWER', document: 'query($id: ID!) { link(id: $id) { id slug } }', variables: (t) => ({ id: t.linkId }) },
  { field: 'domains', kind: 'query', resource: 'DOMAINS', level: 'READ', role: 'VIEWER', document: 'query($w: ID) { domains(workspaceId: $w, first: 5) { totalCount edges { node { id } } } }', variables: (t) => ({ w: t.workspaceId }) },
  { field: 'domain', kind: 'query', resource: 'DOMAINS', level: 'READ', role: 'VIEWER', document: 'query($id: ID!) { domain(id: $id) { id hostname } }', variables: (t) => ({ id: t.domainId }) },
  { field: 'linkStats', kind: 'query', resource: 'ANALYTICS', level: 'READ', role: 'VIEWER', document: 'query($id: ID!) { linkStats(linkId: $id) { __typename ... on LinkStats { totalClicks } } }', variables: (t) => ({ id: t.linkId }) },
  { field: 'workspaceStats', kind: 'query', resource: 'ANALYTICS', level: 'READ', role: 'VIEWER', document: 'query($id: ID!) { workspaceStats(workspaceId: $id) { __typename ... on WorkspaceStats { totalClicks } } }', variables: (t) => ({ id: t.workspaceId }) },
  { field: 'auditEvents', kind: 'query', resource: 'AUDIT_LOG', level: 'READ', role: 'OWNER', document: 'query($w: ID) { auditEvents(workspaceId: $w, first: 5) { edges { node { id action } } } }', variables: (t) => ({ w: t.workspaceId }) },
  // A dry run: any valid key may ask, and it executes nothing (test/authorize.test.ts).
  { field: 'authorize', kind: 'query', resource: 'KEYS', level: 'NONE', role: null, targetless: true, document: 'query($q: String!) { authorize(input: { query: $q }) { allowed } }', variables: () => ({ q: '{ viewer { key { id } } }' }) },
  { field: 'node', kind: 'query', resource: 'LINKS', level: 'READ', role: 'VIEWER', document: 'query($id: ID!) { node(id: $id) { id ... on Link { slug } } }', variables: (t) => ({ id: t.linkId }) },

  // Key management
  { field: 'createApiKey', kind: 'mutation', resource: 'KEYS', level: 'WRITE', role: null, targetless: true, document: m('createApiKey', 'CreateApiKeyInput', '... on CreateApiKeyPayload { apiKey { id } }'), variables: () => ({ input: { name: 'k', permission: 'LIMITED', scopes: [{ resource: 'LINKS', access: 'READ' }] } }) },
  { field: 'updateApiKey', kind: 'mutation', resource: 'KEYS', level: 'WRITE', role: null, document: m('updateApiKey', 'UpdateApiKeyInput', '... on ApiKeyPayload { apiKey { id } }'), variables: (t) => ({ input: { id: t.keyId, name: 'renamed' } }) },
  { field: 'rotateApiKey', kind: 'mutation', resource: 'KEYS', level: 'WRITE', role: null, document: m('rotateApiKey', 'RotateApiKeyInput', '... on CreateApiKeyPayload { apiKey { id } }'), variables: (t) => ({ input: { id: t.keyId } }) },
  { field: 'deactivateApiKey', kind: 'mutation', resource: 'KEYS', level: 'WRITE', role: null, document: m('deactivateApiKey', 'ApiKeyIdInput', '... on ApiKeyPayload { apiKey { id } }'), variables: (t) => ({ input: { id: t.keyId } }) },
  { field: 'deleteApiKey', kind: 'mutation', resource: 'KEYS', level: 'WRITE', role: null, document: m('deleteApiKey', 'ApiKeyIdInput', '... on DeleteApiKeyPayload { deletedId }'), variables: (t) => ({ input: { id: t.keyId } }) },

  // Workspaces and members
  { field: 'createWorkspace', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: null, targetless: true, document: m('createWorkspace', 'CreateWorkspaceInput', '... on WorkspacePayload { workspace { id } }'), variables: () => ({ input: { name: 'new' } }) },
  { field: 'updateWorkspace', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('updateWorkspace', 'UpdateWorkspaceInput', '... on WorkspacePayload { workspace { id } }'), variables: (t) => ({ input: { id: t.workspaceId, name: 'renamed' } }) },
  // A policy every key meets, so that running it never locks other operations out.
  { field: 'updateWorkspaceKeyPolicy', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('updateWorkspaceKeyPolicy', 'UpdateWorkspaceKeyPolicyInput', '... on WorkspaceKeyPolicyPayload { keyPolicy { requireExpiry } }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, requireExpiry: false, maxLifetimeDays: null } }) },
  { field: 'deleteWorkspace', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('deleteWorkspace', 'WorkspaceIdInput', '... on DeletePayload { deletedId }'), variables: (t) => ({ input: { id: t.workspaceId } }) },
  { field: 'inviteWorkspaceMember', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('inviteWorkspaceMember', 'InviteWorkspaceMemberInput', '... on WorkspaceInvitationPayload { invitation { id status } }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, email: t.newMemberEmail, role: 'VIEWER' } }) },
  { field: 'revokeWorkspaceInvitation', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('revokeWorkspaceInvitation', 'WorkspaceInvitationIdInput', '... on WorkspaceInvitationPayload { invitation { status } }'), variables: (t) => ({ input: { id: t.invitationId } }) },
  // Acts on the caller's own invitation, not on a workspace (no role needed to join); someone else's
  // invitation answers like one that does not exist (test/invitations.test.ts).
  { field: 'acceptWorkspaceInvitation', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: null, targetless: true, document: m('acceptWorkspaceInvitation', 'AcceptWorkspaceInvitationInput', '... on WorkspaceMemberPayload { member { role } }'), variables: (t) => ({ input: { invitationId: t.invitationId } }) },
  { field: 'updateWorkspaceMember', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('updateWorkspaceMember', 'UpdateWorkspaceMemberInput', '... on WorkspaceMemberPayload { member { role } }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, userId: t.memberUserId, role: 'MEMBER' } }) },
  { field: 'removeWorkspaceMember', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('removeWorkspaceMember', 'RemoveWorkspaceMemberInput', '... on DeletePayload { deletedId }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, userId: t.memberUserId } }) },

  // Projects
  { field: 'createProject', kind: 'mutation', resource: 'PROJECTS', level: 'WRITE', role: 'MEMBER', document: m('createProject', 'CreateProjectInput', '... on ProjectPayload { project { id } }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, name: 'p2', color: '#aabbcc' } }) },
  { field: 'updateProject', kind: 'mutation', resource: 'PROJECTS', level: 'WRITE', role: 'MEMBER', document: m('updateProject', 'UpdateProjectInput', '... on ProjectPayload { project { id } }'), variables: (t) => ({ input: { id: t.projectId, name: 'p3' } }) },
  { field: 'deleteProject', kind: 'mutation', resource: 'PROJECTS', level: 'WRITE', role: 'MEMBER', document: m('deleteProject', 'ProjectIdInput', '... on DeletePayload { deletedId }'), variables: (t) => ({ input: { id: t.projectId } }) },

  // Links
  { field: 'createLink', kind: 'mutation', resource: 'LINKS', level: 'WRITE', role: 'MEMBER', document: m('createLink', 'CreateLinkInput', '... on LinkPayload { link { id } }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, url: 'https://example.org/x' } }) },
  { field: 'updateLink', kind: 'mutation', resource: 'LINKS', level: 'WRITE', role: 'MEMBER', document: m('updateLink', 'UpdateLinkInput', '... on LinkPayload { link { id } }'), variables: (t) => ({ input: { id: t.linkId, title: 'new title' } }) },
  { field: 'deleteLink', kind: 'mutation', resource: 'LINKS', level: 'WRITE', role: 'MEMBER', document: m('deleteLink', 'LinkIdInput', '... on DeletePayload { deletedId }'), variables: (t) => ({ input: { id: t.linkId } }) },

  // Domains
  { field: 'addDomain', kind: 'mutation', resource: 'DOMAINS', level: 'WRITE', role: 'OWNER', document: m('addDomain', 'AddDomainInput', '... on DomainPayload { domain { id } }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, hostname: host() } }) },
  { field: 'verifyDomain', kind: 'mutation', resource: 'DOMAINS', level: 'WRITE', role: 'OWNER', document: m('verifyDomain', 'DomainIdInput', '... on DomainPayload { domain { verified } }'), variables: (t) => ({ input: { id: t.unverifiedDomainId } }) },
  { field: 'updateDomain', kind: 'mutation', resource: 'DOMAINS', level: 'WRITE', role: 'OWNER', document: m('updateDomain', 'UpdateDomainInput', '... on DomainPayload { domain { id } }'), variables: (t) => ({ input: { id: t.domainId, notFoundUrl: 'https://example.com/404' } }) },
  { field: 'deleteDomain', kind: 'mutation', resource: 'DOMAINS', level: 'WRITE', role: 'OWNER', document: m('deleteDomain', 'DeleteDomainInput', '... on DeletePayload { deletedId }'), variables: (t) => ({ input: { id: t.domainId, archiveLinks: true } }) },

  // Trusted documents (test/trusted-documents.test.ts): a workspace's settings, so OWNERs write them.
  { field: 'trustedDocuments', kind: 'query', resource: 'WORKSPACES', level: 'READ', role: 'VIEWER', document: 'query($w: ID!) { trustedDocuments(workspaceId: $w) { documentId } }', variables: (t) => ({ w: t.workspaceId }) },
  { field: 'registerTrustedDocuments', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('registerTrustedDocuments', 'RegisterTrustedDocumentsInput', '... on RegisterTrustedDocumentsPayload { documents { documentId } }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, documents: ['{ viewer { key { id } } }'] } }) },
  { field: 'deleteTrustedDocuments', kind: 'mutation', resource: 'WORKSPACES', level: 'WRITE', role: 'OWNER', document: m('deleteTrustedDocuments', 'DeleteTrustedDocumentsInput', '... on DeleteTrustedDocumentsPayload { deletedIds }'), variables: (t) => ({ input: { workspaceId: t.workspaceId, documentIds: [`sha256:${'0'.repeat(64)}`] } }) },
];

export type Outcome = { kind: 'ok' } | { kind: 'notFound' } | { kind: 'forbidden'; requiredPermission: string } | { kind: 'other'; detail: string };

/** Classifies a response to one operation. */
export function outcomeOf(op: Operation, body: { data?: Record<string, any> | null; errors?: { extensions?: Record<string, any>; message: string }[] }): Outcome {
  const error = body.errors?.[0];
  if (error?.extensions?.code === 'FORBIDDEN') return { kind: 'forbidden', requiredPermission: error.extensions.requiredPermission };
  if (error) return { kind: 'other', detail: `${error.extensions?.code}: ${error.message}` };
  const value = body.data?.[op.field];
  if (value === null || value === undefined) return { kind: 'notFound' };
  if (value.__typename === 'NotFoundError') return { kind: 'notFound' };
  if (typeof value.totalCount === 'number' && value.totalCount === 0 && op.field !== 'apiKeys' && op.field !== 'workspaces') return { kind: 'notFound' };
  if (value.code) return { kind: 'other', detail: `${value.__typename}: ${value.message}` };
  return { kind: 'ok' };
}
