import { Types } from 'mongoose';
import { ConflictError, isDuplicateKeyError, ValidationError } from '../errors.ts';
import { User, type UserDoc } from '../models/user.ts';
import type { Actor } from './actor.ts';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function normalizeEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (!EMAIL.test(normalized) || normalized.length > 254) {
    throw new ValidationError('email', `"${email}" is not an e-mail address`);
  }
  return normalized;
}

export async function createUser(email: string, name: string): Promise<UserDoc> {
  const normalized = normalizeEmail(email);
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 100) throw new ValidationError('name', 'name must be 1 to 100 characters');
  try {
    return (await User.create({ email: normalized, name: trimmed })).toObject();
  } catch (error) {
    if (isDuplicateKeyError(error)) throw new ConflictError('email', `a user with e-mail ${normalized} already exists`);
    throw error;
  }
}

export async function findUserByEmail(email: string): Promise<UserDoc | null> {
  return User.findOne({ email: normalizeEmail(email) }).lean<UserDoc>().exec();
}

export async function findUserById(id: Types.ObjectId): Promise<UserDoc | null> {
  return User.findById(id).lean<UserDoc>().exec();
}

/** The user a key acts for, or the user the CLI acts as; use cases that act as someone need one. */
export function actingUserId(actor: Actor): Types.ObjectId {
  const userId = actor.key?.userId ?? actor.userId;
  if (!userId) throw new Error('this use case acts for a user (of an API key, or named to the CLI), and the actor has none');
  return new Types.ObjectId(userId);
}

/** The actor's own e-mail address (stored lowercased); null without a key. */
export async function ownEmail(actor: Actor): Promise<string | null> {
  if (!actor.key) return null;
  return (await actor.loaders.user.load(actor.key.userId))?.email ?? null;
}
