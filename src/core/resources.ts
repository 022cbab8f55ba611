import type { Model, Types } from 'mongoose';
import type { AuthenticatedKey } from '../auth/authenticate.ts';
import { ClickDay } from '../models/click-day.ts';
import { Counter } from '../models/counter.ts';
import { Domain } from '../models/domain.ts';
import { Invitation, invitationStatus, type InvitationDoc } from '../models/invitation.ts';
import { Link } from '../models/link.ts';
import { Project } from '../models/project.ts';
import { Slug } from '../models/slug.ts';
import { keyAllowsWorkspace, type Resource } from '../rules/permissions.ts';

/** Who is looking, for the visibility rules that go beyond workspace membership. */
export interface Viewer {
  key: AuthenticatedKey | null;
  /** The key's user's e-mail address (lowercased); null without a key. */
  email(): Promise<string | null>;
}

/** One kind of object that belongs to a workspace. */
export interface OwnedResource<Doc extends { workspaceId: Types.ObjectId }, Typename extends string = string> {
  /** The GraphQL object type, also the type inside its global ids. */
  typename: Typename;
  /** How errors name it: "<label> not found". */
  label: string;
  model: Model<Doc>;
  /** The key permission that reads and changes it. */
  permission: Resource;
  /** Deleted with its workspace. */
  cascade: boolean;
  /**
   * Who else may see it besides the members of its workspace whom the key lets through.
   * Everything else is hidden by `actor.loaders`, exactly like an id that does not exist.
   */
  alsoVisibleTo?(doc: Doc, viewer: Viewer): Promise<boolean>;
}

// Infers Doc from the model and keeps the typename literal.
const owned = <Doc extends { workspaceId: Types.ObjectId }, const Typename extends string>(resource: OwnedResource<Doc, Typename>) => resource;

/** Addressed to the key's user, still pending, in a workspace the key is not restricted away from. */
export async function isOpenForInvitee(doc: InvitationDoc, viewer: Viewer, now = new Date()): Promise<boolean> {
  const key = viewer.key;
  if (!key || invitationStatus(doc, now) !== 'PENDING' || !keyAllowsWorkspace(key.grant, String(doc.workspaceId))) return false;
  return doc.email === (await viewer.email());
}

/**
 * Every workspace-owned resource, by the name its loader has (`actor.loaders.<kind>`,
 * `findByGlobalId(ctx, '<kind>', …)`). The per-request loaders, the global id types, node(id:),
 * index creation and the workspace deletion cascade all follow this table: a new resource is
 * a model, a row here, and its schema file.
 */
export const WORKSPACE_RESOURCES = {
  project: owned({ typename: 'Project', label: 'Project', model: Project, permission: 'PROJECTS', cascade: true }),
  link: owned({ typename: 'Link', label: 'Link', model: Link, permission: 'LINKS', cascade: true }),
  domain: owned({ typename: 'Domain', label: 'Domain', model: Domain, permission: 'DOMAINS', cascade: true }),
  invitation: owned({
    typename: 'WorkspaceInvitation',
    label: 'Workspace invitation',
    model: Invitation,
    permission: 'WORKSPACES',
    cascade: true,
    alsoVisibleTo: isOpenForInvitee,
  }),
};

export type OwnedKind = keyof typeof WORKSPACE_RESOURCES;
export type OwnedTypename = (typeof WORKSPACE_RESOURCES)[OwnedKind]['typename'];
export type OwnedDoc<K extends OwnedKind> = (typeof WORKSPACE_RESOURCES)[K] extends OwnedResource<infer Doc, string> ? Doc : never;

export const OWNED_KINDS = Object.keys(WORKSPACE_RESOURCES) as OwnedKind[];
export const OWNED_TYPENAMES: OwnedTypename[] = OWNED_KINDS.map((kind) => WORKSPACE_RESOURCES[kind].typename);

/**
 * What deleteWorkspace removes before the workspace itself, in this order: each model's
 * documents with that `workspaceId`. Click counters and slug documents are no GraphQL type but
 * go with their workspace too. Memberships are not here: they go last, after the workspace, so that an
 * interrupted delete can be run again by its owner.
 */
export const WORKSPACE_CASCADE: readonly Model<any>[] = [
  ClickDay,
  ...OWNED_KINDS.filter((kind) => WORKSPACE_RESOURCES[kind].cascade).map((kind) => WORKSPACE_RESOURCES[kind].model as Model<any>),
  // After the links: an interrupted delete leaves no live link without its slug document.
  Slug,
  // Last: until the links are gone their counts stay right.
  Counter,
];
