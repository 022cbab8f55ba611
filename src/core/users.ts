import { ConflictError, isDuplicateKeyError, ValidationError } from '../errors.ts';
import { User, type UserDoc } from '../models/user.ts';

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
