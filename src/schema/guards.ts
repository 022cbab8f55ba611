import type { Access, Resource } from '../rules/permissions.ts';
import type { Context } from '../context.ts';
import { WORKSPACE_RESOURCES, type OwnedKind } from '../core/resources.ts';
import { InvalidIdError, parseGlobalId } from './ids.ts';
import { findByGlobalId } from './loaders.ts';

type WorkspaceIdOf<Args> = (args: Args, ctx: Context) => Promise<string | null> | string | null;

/**
 * The auth rule of a field acting on one workspace: the key must grant `resource:level`, and
 * the user's role in that workspace must allow it. A workspace the key cannot see passes here
 * so that the resolver answers NOT_FOUND, exactly as for an id that does not exist; a malformed
 * id passes too, so that the resolver names the bad argument (never FORBIDDEN or NOT_FOUND).
 */
export function onWorkspace<Args>(resource: Resource, level: Access, workspaceIdOf: WorkspaceIdOf<Args>) {
  return async (_parent: unknown, args: Args, ctx: Context) => {
    const workspaceId = await workspaceIdOf(args, ctx);
    return workspaceId
      ? { access: { resource, level }, workspaceRole: { workspaceId, resource, level } }
      : { access: { resource, level } };
  };
}

/** The workspace id inside a Workspace global id argument (null when malformed). */
export function workspaceArg(globalId: string | null | undefined): string | null {
  const id = globalId ? parseGlobalId(globalId, 'Workspace') : null;
  return id ? String(id) : null;
}

/** The workspace of a visible object given by global id (null when missing, foreign or malformed). */
export async function workspaceOf(ctx: Context, kind: OwnedKind, globalId: string): Promise<string | null> {
  try {
    const doc = await findByGlobalId(ctx, kind, globalId, 'id');
    return doc ? String(doc.workspaceId) : null;
  } catch (error) {
    if (error instanceof InvalidIdError) return null;
    throw error;
  }
}

/** The auth rule of a mutation on one object of a workspace-owned kind, given by `input.id`. */
export function onOwned(kind: OwnedKind, level: Access) {
  return onWorkspace(WORKSPACE_RESOURCES[kind].permission, level, ({ input }: { input: { id: string } }, ctx: Context) =>
    workspaceOf(ctx, kind, input.id),
  );
}

/** The auth rule of an object of a workspace-owned kind: its workspace is visible and the key may read the resource. */
export function readableOwned(kind: OwnedKind) {
  const resource = WORKSPACE_RESOURCES[kind].permission;
  return (doc: { workspaceId: unknown }) => ({ visibleWorkspace: String(doc.workspaceId), access: { resource, level: 'READ' as const } });
}
