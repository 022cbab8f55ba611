import DataLoader from 'dataloader';
import type { Model, Types } from 'mongoose';
import type { AuthenticatedKey } from '../auth/authenticate.ts';
import { keyAllowsWorkspace, type Role } from '../rules/permissions.ts';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { Domain, type DomainDoc } from '../models/domain.ts';
import { Link, type LinkDoc } from '../models/link.ts';
import { Project, type ProjectDoc } from '../models/project.ts';
import { User, type UserDoc } from '../models/user.ts';
import { Workspace, type WorkspaceDoc } from '../models/workspace.ts';

interface LoaderScope {
  key: AuthenticatedKey | null;
  memberships(): Promise<Map<string, Role>>;
}

/**
 * Per-request batched loaders. Every workspace-owned object is loaded through one of these,
 * by id, by node(id:), nested or as a mutation target, and comes back null when the key may
 * not see its workspace: the same answer as for an id that does not exist.
 */
export function createLoaders(scope: LoaderScope) {
  async function visibleWorkspaces(): Promise<Set<string>> {
    const key = scope.key;
    if (!key) return new Set();
    const memberships = await scope.memberships();
    return new Set([...memberships.keys()].filter((id) => keyAllowsWorkspace(key.grant, id)));
  }

  function batch<T extends { _id: Types.ObjectId }>(
    model: Model<T>,
    visible: (doc: T, workspaces: Set<string>) => boolean,
  ): DataLoader<string, T | null> {
    return new DataLoader<string, T | null>(async (ids) => {
      const [docs, workspaces] = await Promise.all([
        model.find({ _id: { $in: [...ids] } }).lean<T[]>().exec(),
        visibleWorkspaces(),
      ]);
      const byId = new Map(docs.filter((doc) => visible(doc, workspaces)).map((doc) => [String(doc._id), doc]));
      return ids.map((id) => byId.get(id) ?? null);
    });
  }

  const inVisibleWorkspace = (doc: { workspaceId: Types.ObjectId }, workspaces: Set<string>) =>
    workspaces.has(String(doc.workspaceId));

  return {
    visibleWorkspaces: memo(visibleWorkspaces),
    workspace: batch<WorkspaceDoc>(Workspace, (doc, workspaces) => workspaces.has(String(doc._id))),
    project: batch<ProjectDoc>(Project, inVisibleWorkspace),
    link: batch<LinkDoc>(Link, inVisibleWorkspace),
    domain: batch<DomainDoc>(Domain, inVisibleWorkspace),
    /** Custom domains by hostname (a link's domain), visible ones only. */
    domainByHost: new DataLoader<string, DomainDoc | null>(async (hosts) => {
      const [docs, workspaces] = await Promise.all([
        Domain.find({ hostname: { $in: [...hosts] } }).lean<DomainDoc[]>().exec(),
        visibleWorkspaces(),
      ]);
      const byHost = new Map(docs.filter((doc) => inVisibleWorkspace(doc, workspaces)).map((doc) => [doc.hostname, doc]));
      return hosts.map((host) => byHost.get(host) ?? null);
    }),
    /** Keys are visible to their own user only. */
    apiKey: batch<ApiKeyDoc>(ApiKey, (doc) => scope.key !== null && String(doc.userId) === scope.key.userId),
    /** Users are reached only through guarded parents (viewer, members, link creators). */
    user: batch<UserDoc>(User, () => true),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= fn());
}

/** DataLoader.loadMany without the per-item Error values: a failed batch fails the field. */
export async function loadAll<T>(loader: DataLoader<string, T | null>, ids: readonly string[]): Promise<(T | null)[]> {
  const results = await loader.loadMany(ids);
  return results.map((result) => {
    if (result instanceof Error) throw result;
    return result;
  });
}
