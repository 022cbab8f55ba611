import type DataLoader from 'dataloader';
import type { Loaders } from '../core/loaders.ts';
export { loadAll } from '../core/loaders.ts';
import { WORKSPACE_RESOURCES } from '../core/resources.ts';
import { badUserInput, InvalidIdError, parseIdArg } from './ids.ts';

/** The loaders that fetch by global id: the type name their ids carry, and how errors name them. */
const BY_ID = {
  workspace: { typename: 'Workspace', label: 'Workspace' },
  apiKey: { typename: 'ApiKey', label: 'API key' },
  ...WORKSPACE_RESOURCES,
} as const;
type ByIdKind = keyof typeof BY_ID;
type Loaded<K extends ByIdKind> = NonNullable<Awaited<ReturnType<Loaders[K]['load']>>>;

/**
 * The object behind a global id argument (named by its path, e.g. `input.id`) if the key may see
 * it; null when it does not exist or the key may not see it. A malformed id or one of another type
 * throws InvalidIdError: for mutations, their ValidationError member.
 */
export async function findByGlobalId<K extends ByIdKind>(ctx: { loaders: Loaders }, kind: K, globalId: string, argument: string): Promise<Loaded<K> | null> {
  const id = parseIdArg(globalId, BY_ID[kind].typename, argument);
  const loader = ctx.loaders[kind] as unknown as DataLoader<string, Loaded<K> | null>;
  return loader.load(String(id));
}

/** As findByGlobalId, for query fields: a malformed id is a BAD_USER_INPUT error naming the argument. */
export async function loadByGlobalId<K extends ByIdKind>(ctx: { loaders: Loaders }, kind: K, globalId: string, argument: string): Promise<Loaded<K> | null> {
  try {
    return await findByGlobalId(ctx, kind, globalId, argument);
  } catch (error) {
    throw error instanceof InvalidIdError ? badUserInput(error) : error;
  }
}


