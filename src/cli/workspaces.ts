import type { Types } from 'mongoose';
import { inviteWorkspaceMember } from '../core/invitations.ts';
import type { Position } from '../core/listing.ts';
import { listWorkspaceMembers, type MembershipDoc } from '../core/members.ts';
import { createUser, findUserByEmail } from '../core/users.ts';
import { createWorkspace, requireWorkspace } from '../core/workspaces.ts';
import { NotFoundError } from '../errors.ts';
import { ROLES, type Role } from '../rules/permissions.ts';
import { CommandError, isoOr, required, UsageError, type Command } from './command.ts';
import { findUser, parseId, showId } from './ids.ts';

/** Members read per query while looking for a workspace's first owner. */
const MEMBER_CHUNK = 100;

/** The workspace's longest-standing OWNER: who a CLI invitation is from unless --by names one. */
async function firstOwner(workspaceId: Types.ObjectId): Promise<MembershipDoc | null> {
  const members = listWorkspaceMembers(workspaceId);
  for (let after: Position | null = null; ; ) {
    const chunk = await members.page({ after, before: null, limit: MEMBER_CHUNK, backward: false });
    const owner = chunk.find((member) => member.role === 'OWNER');
    if (owner || chunk.length < MEMBER_CHUNK) return owner ?? null;
    after = members.positionOf(chunk.at(-1)!);
  }
}

export const userCommands: Command[] = [
  {
    name: 'user create',
    summary: 'Create a user',
    synopsis: '--email E --name N',
    description:
      "Creates a user (no workspace yet: see `workspace create`). stdout carries the user's id (the API's User.id).",
    options: {
      email: { type: 'string', value: 'E', help: 'their e-mail address, unique (stored lowercased)' },
      name: { type: 'string', value: 'N', help: 'display name, 1 to 100 characters' },
    },
    examples: ['taapit-api user create --email ada@example.com --name "Ada Lovelace"'],
    async run(cli, values) {
      const email = required(values, 'email', 'ada@example.com');
      const name = required(values, 'name', 'Ada');
      const user = await cli.inDatabase(() => createUser(email, name));
      cli.out(showId('User', user._id));
      cli.err(`created user ${user.email}; next: \`taapit-api workspace create --user ${user.email} --name NAME\` and \`taapit-api key create --email ${user.email} ...\``);
    },
  },
];

export const workspaceCommands: Command[] = [
  {
    name: 'workspace create',
    summary: 'Create a workspace owned by a user',
    synopsis: '--user EMAIL|ID --name N',
    description: "Creates a workspace as the API's createWorkspace does: the user becomes its OWNER. stdout carries its id (the API's Workspace.id).",
    options: {
      user: { type: 'string', value: 'EMAIL|ID', help: "the owner: an e-mail address or a user's id" },
      name: { type: 'string', value: 'N', help: 'the workspace name, 1 to 100 characters' },
    },
    examples: ['taapit-api workspace create --user ada@example.com --name Acme', 'WS=$(taapit-api workspace create --user ada@example.com --name Acme)'],
    async run(cli, values) {
      const userRef = required(values, 'user', 'ada@example.com');
      const name = required(values, 'name', 'Acme');
      const { workspace, email } = await cli.inDatabase(async (session) => {
        const user = await findUser(userRef, 'user');
        return { workspace: await createWorkspace(session.as(String(user._id)), { name }, 'cli'), email: user.email };
      });
      cli.out(showId('Workspace', workspace._id));
      cli.err(`created workspace "${workspace.name}", owned by ${email}`);
    },
  },
  {
    name: 'workspace invite',
    summary: 'Invite an e-mail address to a workspace',
    synopsis: '--workspace ID --email E [--role MEMBER|OWNER|VIEWER] [--by EMAIL|ID]',
    description: [
      "Invites an address as the API's inviteWorkspaceMember does, from one of the workspace's owners (--by, else its",
      'longest-standing OWNER). Inviting again re-sends it: the new role, seven more days. stdout carries the',
      "invitation's id (the API's WorkspaceInvitation.id). Nothing is e-mailed: the invitee, once a user, sees it in",
      '`viewer { invitations }` and joins with acceptWorkspaceInvitation, using a key of their own, within 7 days.',
    ].join('\n'),
    options: {
      workspace: { type: 'string', value: 'ID', help: 'the workspace (its id, as `workspace create` printed it)' },
      email: { type: 'string', value: 'E', help: 'the address to invite; it need not have an account yet' },
      role: { type: 'string', value: 'ROLE', help: `the role they get on accepting: ${ROLES.join(', ')} (default MEMBER)` },
      by: { type: 'string', value: 'EMAIL|ID', help: 'the inviting OWNER (default: the longest-standing owner)' },
    },
    examples: [
      'taapit-api workspace invite --workspace "$WS" --email bob@example.com',
      'taapit-api workspace invite --workspace "$WS" --email carol@example.com --role OWNER --by ada@example.com',
    ],
    async run(cli, values) {
      const workspaceRef = required(values, 'workspace', 'ID');
      const workspaceId = parseId(workspaceRef, 'Workspace', 'workspace');
      const email = required(values, 'email', 'bob@example.com');
      const role = ((values.role as string | undefined) ?? 'MEMBER').toUpperCase() as Role;
      if (!ROLES.includes(role)) throw new UsageError(`--role ${JSON.stringify(values.role)} is invalid: use one of ${ROLES.join(', ')}`);
      const byRef = values.by as string | undefined;
      const missing = () => new CommandError(`no workspace with id ${workspaceRef}: \`taapit-api workspace create\` prints the id of a new one`);
      const { invitation, workspaceName, inviter, hasAccount } = await cli.inDatabase(async (session) => {
        const by = byRef ? await findUser(byRef, 'by') : null;
        const ownerId = by ? by._id : (await firstOwner(workspaceId))?.userId;
        if (!ownerId) throw missing();
        const actor = session.as(String(ownerId));
        const workspace = await requireWorkspace(actor, workspaceId).catch((error: unknown) => {
          if (!(error instanceof NotFoundError)) throw error;
          // A workspace exists but --by is not in it, or it does not exist at all.
          throw by ? new CommandError(`${by.email} is not an OWNER of workspace ${workspaceRef} (or there is no such workspace): name one of its owners with --by`) : missing();
        });
        if ((await actor.memberships()).get(String(workspace._id)) !== 'OWNER') {
          throw new CommandError(`${by!.email} is not an OWNER of workspace "${workspace.name}": only owners invite; name one with --by`);
        }
        const made = await inviteWorkspaceMember(actor, { workspaceId, email, role }, 'cli').catch((error: unknown) => {
          throw error instanceof NotFoundError ? missing() : error;
        });
        const inviterUser = await actor.loaders.user.load(String(ownerId));
        const hasAccount = (await findUserByEmail(made.email)) !== null;
        return { invitation: made, workspaceName: workspace.name, inviter: inviterUser?.email ?? String(ownerId), hasAccount };
      });
      cli.out(showId('WorkspaceInvitation', invitation._id));
      cli.err(
        `invited ${invitation.email} to "${workspaceName}" as ${invitation.role}, from ${inviter}, until ${isoOr(invitation.expiresAt, '')}; ` +
          `they accept with acceptWorkspaceInvitation(input: { invitationId }) using a key of their own` +
          (hasAccount ? '' : ` (no user has this address yet: \`taapit-api user create --email ${invitation.email} --name N\`)`),
      );
    },
  },
];
