// Domain errors shared by resolvers and the CLI; the schema exposes them as typed union members.

/**
 * Why a FORBIDDEN error refused, in its `extensions.reason`. IP_NOT_ALLOWED refuses the whole
 * request (HTTP 403, no data); the others refuse one field (HTTP 200, that field null): SCOPE when
 * the key lacks the permission, ROLE when the user's role in the workspace is too low, POLICY when
 * the key breaks that workspace's key policy (`extensions.policy` names the rule). TRUSTED_DOCUMENTS_ONLY refuses
 * the whole request (HTTP 403) of a trustedDocumentsOnly key that sent a raw query.
 */
export const FORBIDDEN_REASONS = ['IP_NOT_ALLOWED', 'SCOPE', 'ROLE', 'POLICY', 'TRUSTED_DOCUMENTS_ONLY'] as const;
export type ForbiddenReason = (typeof FORBIDDEN_REASONS)[number];

export class ValidationError extends Error {
  readonly code = 'BAD_USER_INPUT';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends Error {
  readonly code = 'NOT_FOUND';
  constructor(what: string) {
    super(`${what} not found: check the id (objects of workspaces this key cannot see are not found either).`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends Error {
  readonly code = 'CONFLICT';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}

/**
 * A write refused by one of the key's own restrictions on what it may write (allowedDestinations,
 * allowedDomains): FORBIDDEN, reason SCOPE, with the restriction named in `extensions.restriction`.
 */
export class KeyRestrictionError extends Error {
  readonly code = 'FORBIDDEN';
  readonly reason: ForbiddenReason = 'SCOPE';
  constructor(
    readonly restriction: 'allowedDestinations' | 'allowedDomains',
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'KeyRestrictionError';
  }
}

/** Duplicate-key detection by code only: MongoDB and FerretDB word the message differently. */
export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

export class VerificationFailedError extends Error {
  readonly code = 'VERIFICATION_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'VerificationFailedError';
  }
}

/** What a client waits before retrying while the database is unreachable (the Retry-After header, seconds). */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

export const DATABASE_UNAVAILABLE_MESSAGE = `The database is unreachable right now: retry in ${DATABASE_RETRY_AFTER_SECONDS} s (see Retry-After).`;

/**
 * The driver's ways of saying the database cannot be reached (no server to select, the connection
 * dropped or its pool cleared, the client closed) and our own DatabaseError. Matched by name, not
 * class: mongoose's and the driver's errors may come from different copies of the driver.
 */
const UNREACHABLE_ERRORS = new Set([
  'DatabaseError',
  'MongoServerSelectionError',
  'MongooseServerSelectionError',
  'MongoNetworkError',
  'MongoPoolClearedError',
  'PoolClearedOnNetworkError',
  'MongoPoolClosedError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoClientClosedError',
  'MongoServerClosedError',
]);

/** True when `error` (or what it wraps) means the database is unreachable, so the request may be retried as is. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let depth = 0; depth < 4 && typeof error === 'object' && error !== null; depth++) {
    if (UNREACHABLE_ERRORS.has((error as Error).name)) return true;
    error = (error as { cause?: unknown }).cause;
  }
  return false;
}
