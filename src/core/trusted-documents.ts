import { Types } from 'mongoose';
import type { AuthenticatedKey } from '../auth/authenticate.ts';
import { ValidationError, isDuplicateKeyError } from '../errors.ts';
import { TrustedDocument, type TrustedDocumentDoc } from '../models/trusted-document.ts';
import { rolesOf } from '../models/user-roles.ts';
import { keyAllowsWorkspace, type Role } from '../rules/permissions.ts';
import {
  DOCUMENT_ID_HINT,
  MAX_DOCUMENT_LENGTH,
  MAX_DOCUMENTS_PER_CALL,
  MAX_DOCUMENTS_PER_WORKSPACE,
  documentIdOf,
  isDocumentId,
} from '../rules/trusted-documents.ts';
import type { Actor } from './actor.ts';
import { requireWorkspace } from './workspaces.ts';
import { audit } from './audit.ts';

export type { TrustedDocumentDoc } from '../models/trusted-document.ts';

/** Says what is wrong with a document (it does not parse or validate against the schema), or null. */
export type DocumentCheck = (text: string) => string | null;

export interface RegisterTrustedDocumentsInput {
  workspaceId: Types.ObjectId;
  documents: readonly string[];
}

/**
 * Registers documents as trusted in a workspace: each is stored once under its id, and the
 * workspace added to those that registered it (registering again changes nothing). `check` is
 * the schema's validation, which this layer cannot see.
 */
export async function registerTrustedDocuments(
  actor: Actor,
  input: RegisterTrustedDocumentsInput,
  check: DocumentCheck,
  at = 'input',
): Promise<TrustedDocumentDoc[]> {
  const workspace = await requireWorkspace(actor, input.workspaceId);
  const { documents } = input;
  if (documents.length === 0 || documents.length > MAX_DOCUMENTS_PER_CALL) {
    throw new ValidationError(`${at}.documents`, `give 1 to ${MAX_DOCUMENTS_PER_CALL} documents per call`);
  }
  documents.forEach((text, index) => {
    const field = `${at}.documents.${index}`;
    if (text.trim() === '') throw new ValidationError(field, 'the document is empty');
    if (text.length > MAX_DOCUMENT_LENGTH) throw new ValidationError(field, `a document is at most ${MAX_DOCUMENT_LENGTH} characters`);
    const problem = check(text);
    if (problem) throw new ValidationError(field, `the document cannot run: ${problem}`);
  });
  const byId = new Map(documents.map((text) => [documentIdOf(text), text]));
  const ids = [...byId.keys()];
  const workspaceId = workspace._id;
  const already = await TrustedDocument.countDocuments({ workspaces: workspaceId, _id: { $nin: ids } }).exec();
  if (already + ids.length > MAX_DOCUMENTS_PER_WORKSPACE) {
    throw new ValidationError(
      `${at}.documents`,
      `a workspace holds at most ${MAX_DOCUMENTS_PER_WORKSPACE} trusted documents and this one has ${already}; delete unused ones with deleteTrustedDocuments`,
    );
  }
  const now = new Date();
  for (const [_id, document] of byId) {
    const write = () =>
      TrustedDocument.updateOne({ _id }, { $setOnInsert: { document, createdAt: now }, $addToSet: { workspaces: workspaceId } }, { upsert: true }).exec();
    // Two first registrations of one text at once: the loser's upsert clashes; the document exists now.
    await write().catch((error) => (isDuplicateKeyError(error) ? write() : Promise.reject(error)));
  }
  await audit(actor, { action: 'trustedDocuments.registered', target: { type: 'Workspace', id: workspaceId }, workspaceId, changes: { documentIds: { after: ids } } });
  return TrustedDocument.find({ _id: { $in: ids } }).lean<TrustedDocumentDoc[]>().exec().then((found) => {
    const order = new Map(ids.map((id, index) => [id, index]));
    return found.sort((a, b) => order.get(a._id)! - order.get(b._id)!);
  });
}

/** A workspace's trusted documents, newest first (NotFoundError for a workspace the actor cannot see). */
export async function listTrustedDocuments(actor: Actor, workspaceId: Types.ObjectId): Promise<TrustedDocumentDoc[]> {
  const workspace = await requireWorkspace(actor, workspaceId);
  return TrustedDocument.find({ workspaces: workspace._id })
    .sort({ createdAt: -1, _id: -1 })
    .limit(MAX_DOCUMENTS_PER_WORKSPACE)
    .lean<TrustedDocumentDoc[]>()
    .exec();
}

export interface DeleteTrustedDocumentsInput {
  workspaceId: Types.ObjectId;
  documentIds: readonly string[];
}

/**
 * Withdraws documents from a workspace; a document no workspace registers any more is deleted.
 * Returns the ids that were registered there (ids that were not are ignored: deleting twice is fine).
 */
export async function deleteTrustedDocuments(actor: Actor, input: DeleteTrustedDocumentsInput, at = 'input'): Promise<string[]> {
  const workspace = await requireWorkspace(actor, input.workspaceId);
  if (input.documentIds.length === 0 || input.documentIds.length > MAX_DOCUMENTS_PER_CALL) {
    throw new ValidationError(`${at}.documentIds`, `give 1 to ${MAX_DOCUMENTS_PER_CALL} document ids per call`);
  }
  input.documentIds.forEach((id, index) => {
    if (!isDocumentId(id)) throw new ValidationError(`${at}.documentIds.${index}`, `${JSON.stringify(id)} is not a document id: ${DOCUMENT_ID_HINT}`);
  });
  const ids = [...new Set(input.documentIds)];
  const workspaceId = workspace._id;
  const registered = await TrustedDocument.find({ _id: { $in: ids }, workspaces: workspaceId }, { _id: 1 }).lean<Pick<TrustedDocumentDoc, '_id'>[]>().exec();
  const found = registered.map((doc) => doc._id);
  if (found.length === 0) return [];
  await TrustedDocument.updateMany({ _id: { $in: found } }, { $pull: { workspaces: workspaceId } }).exec();
  // Conditional, so a registration made meanwhile by another workspace keeps the document.
  await TrustedDocument.deleteMany({ _id: { $in: found }, workspaces: { $size: 0 } }).exec();
  await audit(actor, { action: 'trustedDocuments.deleted', target: { type: 'Workspace', id: workspaceId }, workspaceId, changes: { documentIds: { before: found } } });
  return found;
}

/** The key's user's roles, as the trusted-document check reads them (the request may reuse the read). */
export function keyRoles(key: AuthenticatedKey): Promise<Map<string, Role>> {
  return rolesOf(key.userId);
}

/**
 * The text of a trusted document the key may run: registered for a workspace the key reaches
 * (the user is a member and the key is not restricted away from it). Null otherwise, for an
 * unknown id and a foreign one alike. One read by primary key, beside the roles'.
 */
export async function trustedDocumentFor(
  key: AuthenticatedKey,
  documentId: string,
  roles: Promise<ReadonlyMap<string, Role>> = keyRoles(key),
): Promise<string | null> {
  const [doc, memberships] = await Promise.all([
    TrustedDocument.findById(documentId, { document: 1, workspaces: 1 }).lean<TrustedDocumentDoc>().exec(),
    roles,
  ]);
  if (!doc) return null;
  const reachable = doc.workspaces.some((id) => memberships.has(String(id)) && keyAllowsWorkspace(key.grant, String(id)));
  return reachable ? doc.document : null;
}
