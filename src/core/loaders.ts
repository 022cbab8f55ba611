import DataLoader from 'dataloader';
import type { Model, Types } from 'mongoose';
import type { AuthenticatedKey } from '../auth/authenticate.ts';
import { keyPolicyViolation, type KeyPolicy, type KeyPolicyRule } from '../rules/key-policy.ts';
import { keyAllowsWorkspace, type Role } from '../rules/permissions.ts';
import { ApiKey, type ApiKeyDoc } from '../models/api-key.ts';
import { Domain, findDomainByHost, type DomainDoc } from '../models/domain.ts';
import { User, type UserDoc } from '../models/user.ts';
import { Workspace, type WorkspaceDoc } from '../models/workspace.ts';
import type { CachedKind, DocumentCache } from './document-cache.ts';
import { OWNED_KINDS, WORKSPACE_RESOURCES, type OwnedDoc, type OwnedKind, type OwnedResource, type Viewer } from './resources.ts';

interface LoaderScope {
  key: AuthenticatedKey | null;
  /** The user the keyless CLI acts as: every workspace of theirs is visible. */
  userId: string | null;
  services: { db: { kind: 'ferretdb' | 'mongodb' }; documents?: DocumentCache };
  /**
   * Once aborted (the client went away), batches fail instead of reading. Set for GraphQL
   * queries only, which are also the only readers of documents cached across requests.
   */
  signal?: AbortSignal;
  memberships(): Promise<Map<string, Role>>;
}

/** One loader per workspace-owned resource, named by its kind: `loaders.project`, `loaders.link`… */
type OwnedLoaders = { [K in OwnedKind]: DataLoader<string, OwnedDoc<K> | null> };

/**
 * Per-request batched loaders. Every workspace-owned object is loaded through one of these,
 * by id, by node(id:), nested or as a mutation target, and comes back null when the key may
 * not see it: the same answer as for an id that does not exist.
 */
export function createLoaders(scope: LoaderScope) {
  const pointReadsOnly = scope.services.db.kind === 'ferretdb';
  // Queries answer from documents cached across requests; mutations, the CLI and jobs decide on
  // what the database holds now (they have no signal: see Actor.signal).
  const shared = () => (scope.signal ? scope.services.documents : undefined);
  async function visibleWorkspaces(): Promise<Set<string>> {
    const key = scope.key;
    if (!key && !scope.userId) return new Set();
    const memberships = await scope.memberships();
    return new Set([...memberships.keys()].filter((id) => !key || keyAllowsWorkspace(key.grant, id)));
  }

  /**
   * `byWorkspace`: visibility depends on the key's workspaces, loaded with the documents; else not
   * at all. `cached`: the kind under which documents are kept across requests (see DocumentCache).
   */
  function batch<T extends { _id: Types.ObjectId }>(
    model: Model<T>,
    visible: (doc: T, workspaces: Set<string>) => boolean | Promise<boolean>,
    byWorkspace = true,
    cached?: CachedKind,
  ): DataLoader<string, T | null> {
    return new DataLoader<string, T | null>(async (ids) => {
      scope.signal?.throwIfAborted();
      const cache = cached ? shared() : undefined;
      const hits = cache ? ids.map((id) => cache.get<T & { _id: Types.ObjectId }>(cached!, id)).filter((doc) => doc !== undefined) : [];
      const cachedIds = new Set(hits.map((doc) => String(doc._id)));
      const missing = ids.filter((id) => !cachedIds.has(id));
      const since = cache?.mark();
      // The embedded FerretDB answers an exact { _id } filter from its index but scans the whole
      // collection for $in: there a batch is one primary-key read per id; MongoDB gets one $in.
      const read =
        missing.length === 0
          ? Promise.resolve([])
          : missing.length === 1 || pointReadsOnly
            ? Promise.all(missing.map((id) => model.findById(id).lean<T>().exec())).then((found) => found.filter((doc) => doc !== null))
            : model.find({ _id: { $in: [...missing] } }).lean<T[]>().exec();
      const [found, workspaces] = await Promise.all([read, byWorkspace ? visibleWorkspaces() : new Set<string>()]);
      if (cache) cache.store(since!, cached!, found);
      const docs = [...hits, ...found];
      const shown = await Promise.all(docs.map((doc) => visible(doc, workspaces)));
      const byId = new Map(docs.filter((_doc, i) => shown[i]).map((doc) => [String(doc._id), doc]));
      return ids.map((id) => byId.get(id) ?? null);
    });
  }

  const inVisibleWorkspace = (doc: { workspaceId: Types.ObjectId }, workspaces: Set<string>) =>
    workspaces.has(String(doc.workspaceId));

  /** Users are reached only through guarded parents (viewer, members, link creators). */
  const user = batch<UserDoc>(User, () => true, false, 'user');
  const viewer: Viewer = {
    key: scope.key,
    email: async () => (scope.key ? ((await user.load(scope.key.userId))?.email ?? null) : null),
  };

  function ownedLoader<Doc extends { _id: Types.ObjectId; workspaceId: Types.ObjectId }>(resource: OwnedResource<Doc>, cached?: CachedKind) {
    const { alsoVisibleTo } = resource;
    return batch<Doc>(
      resource.model,
      (doc, workspaces) => inVisibleWorkspace(doc, workspaces) || (alsoVisibleTo ? alsoVisibleTo(doc, viewer) : false),
      true,
      cached,
    );
  }
  // Projects and domains are cached across requests (rarely changed, repeated on every page of
  // links); links and invitations are not.
  const cachedKind = (kind: OwnedKind): CachedKind | undefined => (kind === 'project' || kind === 'domain' ? kind : undefined);
  const owned = Object.fromEntries(
    OWNED_KINDS.map((kind) => [kind, ownedLoader(WORKSPACE_RESOURCES[kind] as OwnedResource<any>, cachedKind(kind))]),
  ) as OwnedLoaders;

  const workspace = batch<WorkspaceDoc>(Workspace, (doc, workspaces) => workspaces.has(String(doc._id)), true, 'workspace');
  /** Each visible workspace's verdict on the key, once decided in this request (for FORBIDDEN POLICY errors). */
  const policyVerdicts = new Map<string, { rule: KeyPolicyRule; policy: KeyPolicy } | null>();
  /**
   * The rule of a visible workspace's key policy the key breaks, or null (it complies, there is
   * no key, or the workspace is not visible). Reads the workspace document by primary key, from
   * the documents cached across requests for queries.
   */
  async function policyViolation(workspaceId: string): Promise<KeyPolicyRule | null> {
    const key = scope.key;
    if (!key) return null;
    const doc = await workspace.load(workspaceId);
    const rule = doc?.keyPolicy ? keyPolicyViolation(doc.keyPolicy, { ...key.doc, allowedIps: key.doc.allowedIps ?? [] }) : null;
    policyVerdicts.set(workspaceId, rule ? { rule, policy: doc!.keyPolicy! } : null);
    return rule;
  }
  /** Visible workspaces whose key policy the key complies with: what lists over every workspace cover. */
  async function compliantWorkspaces(): Promise<Set<string>> {
    const visible = await visibleWorkspaces();
    if (!scope.key) return visible;
    const verdicts = await Promise.all([...visible].map(async (id) => [id, await policyViolation(id)] as const));
    return new Set(verdicts.filter(([, rule]) => rule === null).map(([id]) => id));
  }

  return {
    visibleWorkspaces: memo(visibleWorkspaces),
    compliantWorkspaces: memo(compliantWorkspaces),
    policyViolation,
    /** The verdict already reached on a workspace in this request (undefined: not checked). */
    knownPolicyViolation: (workspaceId: string) => policyVerdicts.get(workspaceId),
    workspace,
    ...owned,
    /**
     * Custom domains by hostname (a link's domain), visible ones only: from the documents cached
     * across requests, else two primary-key reads per host through the hostname registry, or on
     * MongoDB one query for several, like batch() above.
     */
    domainByHost: new DataLoader<string, DomainDoc | null>(async (hosts) => {
      scope.signal?.throwIfAborted();
      const cache = shared();
      const hits = cache ? hosts.map((host) => cache.domainOf<DomainDoc>(host)).filter((doc) => doc !== undefined) : [];
      const cachedHosts = new Set(hits.map((doc) => doc.hostname));
      const missing = hosts.filter((host) => !cachedHosts.has(host));
      const since = cache?.mark();
      const read =
        missing.length === 0
          ? Promise.resolve([])
          : missing.length === 1 || pointReadsOnly
            ? Promise.all(missing.map((host) => findDomainByHost(host))).then((found) => found.filter((doc) => doc !== null))
            : Domain.find({ hostname: { $in: [...missing] } }).lean<DomainDoc[]>().exec();
      const [found, workspaces] = await Promise.all([read, visibleWorkspaces()]);
      if (cache) cache.store(since!, 'domain', found);
      const docs = [...hits, ...found];
      const byHost = new Map(docs.filter((doc) => inVisibleWorkspace(doc, workspaces)).map((doc) => [doc.hostname, doc]));
      return hosts.map((host) => byHost.get(host) ?? null);
    }),
    /** Keys are visible to their own user only. */
    apiKey: batch<ApiKeyDoc>(ApiKey, (doc) => scope.key !== null && String(doc.userId) === scope.key.userId, false),
    user,
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

