import { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';
import { Types } from 'mongoose';
import { OWNED_TYPENAMES, type OwnedTypename } from '../core/resources.ts';
import { ValidationError } from '../errors.ts';

export function toGlobalId(typename: string, id: Types.ObjectId | string): string {
  return encodeGlobalID(typename, String(id));
}

/** The types `node(id:)` can fetch. A test checks this against the schema's Node implementations. */
export type NodeTypename = 'Workspace' | 'ApiKey' | OwnedTypename;
export const NODE_TYPENAMES: readonly NodeTypename[] = ['Workspace', ...OWNED_TYPENAMES, 'ApiKey'];

/**
 * A malformed id argument, named by its path (`id`, `input.workspaceId`, `input.workspaceIds.0`).
 * A ValidationError, so a mutation answers it as its `ValidationError` member; query fields,
 * which have no error union, turn it into a BAD_USER_INPUT GraphQL error (badUserInput).
 */
export class InvalidIdError extends ValidationError {}

// Our ids are at most "Workspace:" + 24 hex characters in base64 (48); anything much longer is not one.
const MAX_ID_LENGTH = 100;
const TYPENAME = /^[A-Za-z_]\w*$/;
const OBJECT_ID = /^[0-9a-f]{24}$/;

/** The value as it is quoted back in messages: never more than a short prefix of it. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

const a = (word: string) => `${/^[AEIOU]/.test(word) ? 'an' : 'a'} ${word}`;

/** `Type:inner` inside a global id, or null when the value is not one (never throws). */
function decode(value: string): { typename: string; inner: string } | null {
  if (value.length === 0 || value.length > MAX_ID_LENGTH) return null;
  const text = Buffer.from(value, 'base64').toString('utf8');
  // Only the exact encoding we hand out: no other characters, stray bits or bytes that are not UTF-8.
  if (Buffer.from(text, 'utf8').toString('base64') !== value) return null;
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  const typename = text.slice(0, colon);
  return TYPENAME.test(typename) ? { typename, inner: text.slice(colon + 1) } : null;
}

/**
 * The ObjectId inside a global id argument of type `typename` (or of any node type when
 * `typename` is null, for `node(id:)`). Anything else throws InvalidIdError, whose message says
 * what is wrong and what a valid value is; it never throws anything else.
 */
export function parseIdArg(value: string, typename: string, argument: string): Types.ObjectId;
export function parseIdArg(value: string, typename: null, argument: string): { typename: NodeTypename; id: Types.ObjectId };
export function parseIdArg(value: string, typename: string | null, argument: string) {
  const valid = typename ? a(typename) : `a ${NODE_TYPENAMES.slice(0, -1).join(', ')} or ${NODE_TYPENAMES.at(-1)}`;
  const fail = (what: string) => new InvalidIdError(argument, `${argument}: ${shown(value)} ${what}; use the id field of ${valid}.`);
  const decoded = decode(value);
  if (!decoded) throw fail('is not an id (ids are opaque strings returned by this API)');
  const { typename: actual, inner } = decoded;
  if (typename === null ? !(NODE_TYPENAMES as readonly string[]).includes(actual) : actual !== typename) {
    throw fail(`is ${a(actual)} id, not ${typename ? `${a(typename)} id` : 'the id of an object node(id:) can fetch'}`);
  }
  if (!OBJECT_ID.test(inner)) throw fail(`is not a valid ${actual} id (it was altered or cut short)`);
  const id = new Types.ObjectId(inner);
  return typename === null ? { typename: actual as NodeTypename, id } : id;
}

/** As parseIdArg, but null instead of an error: for auth rules, which leave the refusal to the resolver. */
export function parseGlobalId(globalId: string, typename: string): Types.ObjectId | null {
  try {
    return parseIdArg(globalId, typename, 'id');
  } catch {
    return null;
  }
}

/** A query field's refusal of an argument: BAD_USER_INPUT naming it (the error passes masking as it is). */
export function badUserInput(error: ValidationError): GraphQLError {
  return new GraphQLError(error.message, { extensions: { code: 'BAD_USER_INPUT', argument: error.field } });
}

/** parseIdArg for query fields: a malformed id is a BAD_USER_INPUT GraphQL error. */
export function parseQueryIdArg(value: string, typename: string, argument: string): Types.ObjectId {
  try {
    return parseIdArg(value, typename, argument);
  } catch (error) {
    throw error instanceof InvalidIdError ? badUserInput(error) : error;
  }
}

/**
 * The relay plugin's decoder for `node(id:)`, the only global-id argument of the schema: any node
 * type, checked like every other id, and a BAD_USER_INPUT error naming `id` otherwise.
 */
export function decodeNodeId(globalId: string): { typename: NodeTypename; id: string } {
  try {
    const { typename, id } = parseIdArg(globalId, null, 'id');
    return { typename, id: String(id) };
  } catch (error) {
    throw error instanceof InvalidIdError ? badUserInput(error) : error;
  }
}
