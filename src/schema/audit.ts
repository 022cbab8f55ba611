import type { Context } from '../context.ts';
import { listAuditEvents, type AuditEventDoc } from '../core/audit.ts';
import { builder } from './builder.ts';
import { onWorkspace, workspaceArg } from './guards.ts';
import { parseQueryIdArg, toGlobalId } from './ids.ts';
import { connectionType, paginateListing } from './pagination.ts';

const AUDIT_READ = { resource: 'AUDIT_LOG', level: 'READ' } as const;

/** A workspace's event: audit_log:read and OWNER there; a key event: keys:read (the list holds only the user's own). */
const eventScopes = (event: AuditEventDoc) =>
  event.workspaceId
    ? { visibleWorkspace: String(event.workspaceId), workspaceRole: { workspaceId: String(event.workspaceId), ...AUDIT_READ } }
    : { keys: 'READ' as const };

const AuditActorRef = builder.objectRef<AuditEventDoc>('AuditActor').implement({
  description: 'Who acted: the user and the API key of the request (both null for the server itself, e.g. a leak report).',
  authScopes: eventScopes,
  fields: (t) => ({
    user: t.id({
      nullable: true,
      description: 'The global id of the user who acted (the key’s owner; the named user for the CLI).',
      resolve: (e) => (e.actorUserId ? toGlobalId('User', e.actorUserId) : null),
    }),
    key: t.id({
      nullable: true,
      description: 'The global id of the API key the request was authenticated with; null for the CLI and the server.',
      resolve: (e) => (e.actorKeyId ? toGlobalId('ApiKey', e.actorKeyId) : null),
    }),
  }),
});

const AuditTargetRef = builder.objectRef<AuditEventDoc>('AuditTarget').implement({
  description: 'What the event is about.',
  authScopes: eventScopes,
  fields: (t) => ({
    type: t.string({ description: 'Its GraphQL type: ApiKey, Link, Project, Domain, Workspace, WorkspaceInvitation or User (a member).', resolve: (e) => e.targetType }),
    id: t.id({ description: 'Its global id (it may no longer exist).', resolve: (e) => toGlobalId(e.targetType, e.targetId) }),
  }),
});

const AuditEventRef = builder.objectRef<AuditEventDoc>('AuditEvent').implement({
  description: 'One recorded write or key lifecycle event. Append-only: no API changes or deletes it; it is purged after AUDIT_RETENTION_DAYS.',
  authScopes: eventScopes,
  fields: (t) => ({
    id: t.id({ description: 'The global id of the event.', resolve: (e) => toGlobalId('AuditEvent', e._id) }),
    action: t.string({ description: 'What happened, dotted: link.created, apiKey.rotated, apiKey.firstUseFromNewIp… (the README lists them all).', resolve: (e) => e.action }),
    actor: t.field({ type: AuditActorRef, description: 'Who acted.', resolve: (e) => e }),
    target: t.field({ type: AuditTargetRef, description: 'What it was done to.', resolve: (e) => e }),
    workspace: t.id({
      nullable: true,
      description: 'The global id of the workspace it happened in; null for events of a user’s own keys.',
      resolve: (e) => (e.workspaceId ? toGlobalId('Workspace', e.workspaceId) : null),
    }),
    ip: t.string({ nullable: true, description: 'The client address of the request; null when there was no request (CLI, server).', resolve: (e) => e.ip }),
    userAgent: t.string({ nullable: true, description: 'The User-Agent of the request (first 512 characters).', resolve: (e) => e.userAgent }),
    requestId: t.string({ nullable: true, description: 'The X-Request-Id of the request, to find it in the server log.', resolve: (e) => e.requestId }),
    createdAt: t.field({ type: 'DateTime', description: 'When it happened.', resolve: (e) => e.createdAt }),
    changes: t.field({
      type: 'JSON',
      nullable: true,
      description: 'The changed fields as {"field": {"before": …, "after": …}} (a creation has only after, a deletion only before). Never a secret or a hash.',
      resolve: (e) => e.changes,
    }),
  }),
});

const auditConnection = connectionType(AuditEventRef, 'AuditEvent', 'audit events');

const workspaceScopes = onWorkspace('AUDIT_LOG', 'READ', (args: { workspaceId?: string | null }) => workspaceArg(args.workspaceId));

builder.queryField('auditEvents', (t) =>
  t.connection(
    {
      type: AuditEventRef,
      nullable: true,
      description:
        'Audit events, newest first. With workspaceId: that workspace’s events (audit_log:read; OWNER). Without: the events of your own API keys (keys:read). ' +
        'Null for a workspace you cannot see, as for one that does not exist.',
      authScopes: (root, args, ctx: Context) => (args.workspaceId ? workspaceScopes(root, args, ctx) : { keys: 'READ' as const }),
      args: {
        workspaceId: t.arg.id({ description: 'The global id of the workspace; omit for your own keys’ events.' }),
        keyId: t.arg.id({ description: 'Only events done with this key or about it (global id of an ApiKey).' }),
        action: t.arg.string({ description: 'Only this action, e.g. link.created.' }),
        from: t.arg({ type: 'DateTime', description: 'Only events at or after this time.' }),
        to: t.arg({ type: 'DateTime', description: 'Only events before this time.' }),
      },
      resolve: async (_root, args, ctx) => {
        const list = await listAuditEvents(ctx, {
          workspaceId: args.workspaceId ? parseQueryIdArg(args.workspaceId, 'Workspace', 'workspaceId') : null,
          keyId: args.keyId ? parseQueryIdArg(args.keyId, 'ApiKey', 'keyId') : null,
          action: args.action ?? null,
          from: args.from ?? null,
          to: args.to ?? null,
        });
        return list ? paginateListing(list, args) : null;
      },
    },
    auditConnection,
  ),
);
