import { Membership, Workspace } from '../models/workspace.ts';
import { User, type UserDoc } from '../models/user.ts';
import { insertApiKey, type CreatedKey } from './api-keys.ts';

export const DEMO_EMAIL = 'demo@taapit.local';

async function demoUser(): Promise<UserDoc> {
  const existing = await User.findOne({ email: DEMO_EMAIL }).lean<UserDoc>().exec();
  if (existing) return existing;
  const user = (await User.create({ email: DEMO_EMAIL, name: 'Demo User' })).toObject();
  const workspace = await Workspace.create({ name: 'Demo workspace', createdByUserId: user._id });
  await Membership.create({ workspaceId: workspace._id, userId: user._id, role: 'OWNER' });
  return user;
}

/** The demo user (created once), its workspace, and a new FULL key for it. */
export async function seedDemo(pepper: string, createdVia: 'CLI' | 'BOOTSTRAP' = 'CLI'): Promise<CreatedKey> {
  const user = await demoUser();
  return insertApiKey({
    userId: user._id,
    pepper,
    createdVia,
    spec: {
      name: 'Demo key',
      permission: 'FULL',
      scopes: [],
      workspaces: [],
      expiresAt: null,
      allowedIps: [],
      rateLimit: null,
    },
  });
}

/** First start on an empty database: a demo user, workspace and key, so GraphiQL works at once. */
export async function bootstrapDemo(pepper: string): Promise<string | null> {
  if ((await User.estimatedDocumentCount()) > 0) return null;
  const { secret } = await seedDemo(pepper, 'BOOTSTRAP');
  return [
    '',
    'First start on an empty database: created demo@taapit.local, a "Demo workspace" and this FULL API key.',
    'It is shown only now; paste it into GraphiQL\'s Authorization header:',
    '',
    `    Authorization: Bearer ${secret}`,
    '',
  ].join('\n');
}
