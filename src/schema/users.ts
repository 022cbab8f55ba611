import type { Types } from 'mongoose';
import type { Context } from '../context.ts';
import type { UserDoc } from '../core/viewer.ts';
import { builder } from './builder.ts';
import { toGlobalId } from './ids.ts';

/**
 * Personal data (who belongs to a workspace, other users' names and e-mail addresses) needs
 * workspaces:read: the key's own access, and where a workspace is involved its role there too.
 * Every field that hands out users, members or invitations carries this rule (a test walks the schema).
 */
export const PERSONAL_DATA = { access: { resource: 'WORKSPACES', level: 'READ' } } as const;

type UserIdOf<Parent> = (parent: Parent) => Types.ObjectId | string | null | undefined;

/** The rule of a field handing out one user: any key may see its own user, others need workspaces:read. */
export function ownUserOrPersonalData<Parent>(userIdOf: UserIdOf<Parent>) {
  return (parent: Parent, _args: unknown, ctx: Context) => {
    const userId = userIdOf(parent);
    return ctx.key !== null && userId !== null && userId !== undefined && String(userId) === ctx.key.userId
      ? { authenticated: true }
      : PERSONAL_DATA;
  };
}

export const UserRef = builder.objectRef<UserDoc>('User').implement({
  description: "A person who owns API keys and belongs to workspaces. Another user than the key's own needs workspaces:read.",
  authScopes: (user, ctx) => (ctx.key !== null && String(user._id) === ctx.key.userId ? { authenticated: true } : PERSONAL_DATA),
  fields: (t) => ({
    id: t.id({ description: 'The global id of the user.', resolve: (user) => toGlobalId('User', user._id) }),
    name: t.exposeString('name', { description: 'Display name.' }),
    email: t.exposeString('email', {
      description: 'E-mail address, lowercased.',
      authScopes: ownUserOrPersonalData((user) => user._id),
    }),
  }),
});
