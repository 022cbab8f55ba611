import type { UserDoc } from '../models/user.ts';
import { builder } from './builder.ts';
import { toGlobalId } from './ids.ts';

export const UserRef = builder.objectRef<UserDoc>('User').implement({
  description: 'A person who owns API keys and belongs to workspaces.',
  authScopes: { authenticated: true },
  fields: (t) => ({
    id: t.id({ description: 'The global id of the user.', resolve: (user) => toGlobalId('User', user._id) }),
    name: t.exposeString('name', { description: 'Display name.' }),
    email: t.exposeString('email', { description: 'E-mail address, lowercased.' }),
  }),
});
