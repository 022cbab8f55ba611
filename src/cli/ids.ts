import { Types } from 'mongoose';
import { ValidationError } from '../errors.ts';
import { findUserByEmail, findUserById } from '../core/users.ts';
import type { UserDoc } from '../core/viewer.ts';
import { InvalidIdError, parseIdArg, toGlobalId } from '../schema/ids.ts';
import { CommandError, UsageError } from './command.ts';

// The CLI shows the same global ids the API does, and takes those or the raw 24-hex ObjectIds
// (as found in the database or a backup).

export type CliTypename = 'ApiKey' | 'User' | 'Workspace' | 'WorkspaceInvitation';

/** Where to find an id of each kind, for the message about a wrong one. */
const WHERE: Record<CliTypename, string> = {
  ApiKey: '`taapit-api key list --email E` lists them (the API\'s ApiKey.id)',
  User: '`taapit-api user create` printed it (the API\'s User.id); an e-mail address works too',
  Workspace: '`taapit-api workspace create` printed it (the API\'s Workspace.id)',
  WorkspaceInvitation: '`taapit-api workspace invite` printed it (the API\'s WorkspaceInvitation.id)',
};

const article = (word: string) => (/^[AEIOU]/.test(word) ? 'an' : 'a');

export function showId(typename: CliTypename, id: Types.ObjectId | string): string {
  return toGlobalId(typename, id);
}

/** The ObjectId in `value`, a global id of `typename` or a raw ObjectId; else a UsageError saying what is expected. */
export function parseId(value: string, typename: CliTypename, option: string): Types.ObjectId {
  if (/^[0-9a-f]{24}$/i.test(value)) return new Types.ObjectId(value);
  try {
    return parseIdArg(value, typename, `--${option}`);
  } catch (error) {
    if (!(error instanceof InvalidIdError)) throw error;
    // parseIdArg's reason ("is a Link id, not an ApiKey id"), then the CLI's own advice.
    const reason = error.message.split(';')[0];
    throw new UsageError(`${reason}; give ${article(typename)} ${typename} id: ${WHERE[typename]}.`);
  }
}

/** A user named by e-mail address, global id or ObjectId; CommandError when there is none. */
export async function findUser(value: string, option: string): Promise<UserDoc> {
  let user: UserDoc | null;
  try {
    user = value.includes('@') ? await findUserByEmail(value) : await findUserById(parseId(value, 'User', option));
  } catch (error) {
    throw error instanceof ValidationError ? new UsageError(`--${option}: ${error.message}`) : error;
  }
  if (!user) throw new CommandError(`no user ${value.includes('@') ? 'with e-mail' : 'with id'} ${value}: create it with \`taapit-api user create\``);
  return user;
}
