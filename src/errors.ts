// Domain errors shared by resolvers and the CLI; the schema exposes them as typed union members.

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
