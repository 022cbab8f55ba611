import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { Types } from 'mongoose';

export function toGlobalId(typename: string, id: Types.ObjectId | string): string {
  return encodeGlobalID(typename, String(id));
}

/** The ObjectId inside a global id of `typename`, or null for anything else (treated as not found). */
export function parseGlobalId(globalId: string, typename: string): Types.ObjectId | null {
  try {
    const { typename: actual, id } = decodeGlobalID(globalId);
    if (actual !== typename || !Types.ObjectId.isValid(id) || String(new Types.ObjectId(id)) !== id) return null;
    return new Types.ObjectId(id);
  } catch {
    return null;
  }
}
