import mongoose, { Schema, type Types } from 'mongoose';

/**
 * A GraphQL document registered as trusted. `_id` is its document id (`sha256:<hex>` of the
 * exact text), so running one by documentId is a single primary-key read. One document per
 * text, shared by every workspace that registered it (`workspaces`).
 */
export interface TrustedDocumentDoc {
  _id: string;
  document: string;
  workspaces: Types.ObjectId[];
  createdAt: Date;
}

const trustedDocumentSchema = new Schema<TrustedDocumentDoc>(
  {
    _id: { type: String, required: true },
    document: { type: String, required: true },
    workspaces: [{ type: Schema.Types.ObjectId }],
    createdAt: { type: Date, required: true },
  },
  { versionKey: false },
);
// A workspace's list, newest first.
trustedDocumentSchema.index({ workspaces: 1, createdAt: -1, _id: -1 });

export const TrustedDocument = mongoose.model<TrustedDocumentDoc>('TrustedDocument', trustedDocumentSchema, 'trusteddocuments');

/** Forgets a deleted workspace's registrations; a document no other workspace registered goes too. */
export async function forgetWorkspaceDocuments(workspaceId: Types.ObjectId): Promise<void> {
  await TrustedDocument.updateMany({ workspaces: workspaceId }, { $pull: { workspaces: workspaceId } }).exec();
  await TrustedDocument.deleteMany({ workspaces: { $size: 0 } }).exec();
}
