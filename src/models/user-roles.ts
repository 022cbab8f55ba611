import mongoose, { Schema, type Types } from 'mongoose';
import type { Role } from '../rules/permissions.ts';

/**
 * A user's roles by workspace id (`_id` = the user's id), so every request that needs them reads
 * one document by primary key. It indexes `memberships`, which stay the truth (member lists, the
 * last-OWNER rule); it is written after a membership is added or raised and before one is
 * lowered or removed, so without transactions a crash in between grants less, never more.
 */
export interface UserRolesDoc {
  _id: Types.ObjectId;
  roles: Record<string, Role>;
}

const userRolesSchema = new Schema<UserRolesDoc>(
  {
    // Workspace ids (hex) as keys; a Mixed object so `roles.<id>` is set and unset in place.
    roles: { type: Schema.Types.Mixed, default: {} },
  },
  { versionKey: false, minimize: false },
);

export const UserRoles = mongoose.model<UserRolesDoc>('UserRoles', userRolesSchema, 'userroles');

const rolePath = (workspaceId: Types.ObjectId | string) => `roles.${String(workspaceId)}`;

/** Records (or changes) a user's role in a workspace: one upsert by `_id`. */
export async function indexRole(userId: Types.ObjectId | string, workspaceId: Types.ObjectId | string, role: Role): Promise<void> {
  await UserRoles.updateOne({ _id: userId }, { $set: { [rolePath(workspaceId)]: role } }, { upsert: true }).exec();
}

/** Forgets a user's role in a workspace: one update by `_id`. */
export async function unindexRole(userId: Types.ObjectId | string, workspaceId: Types.ObjectId | string): Promise<void> {
  await UserRoles.updateOne({ _id: userId }, { $unset: { [rolePath(workspaceId)]: 1 } }).exec();
}

/** A user's roles by workspace id: one read by `_id`. */
export async function rolesOf(userId: Types.ObjectId | string): Promise<Map<string, Role>> {
  const doc = await UserRoles.findById(userId, { roles: 1 }).lean<UserRolesDoc>().exec();
  return new Map(Object.entries(doc?.roles ?? {}));
}
