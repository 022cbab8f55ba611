import { createHash } from 'node:crypto';

// Trusted documents are named as the GraphQL-over-HTTP persisted-documents appendix names them:
// `sha256:` + the lowercase hex SHA-256 of the document's exact UTF-8 text.

const DOCUMENT_ID = /^sha256:[0-9a-f]{64}$/;

/** At most this many documents per registration, and per workspace. */
export const MAX_DOCUMENTS_PER_CALL = 100;
export const MAX_DOCUMENTS_PER_WORKSPACE = 1000;
/** Characters of one document; run-time document limits (tokens, depth) apply on top. */
export const MAX_DOCUMENT_LENGTH = 100_000;

export const DOCUMENT_ID_HINT = 'a documentId is "sha256:" followed by the 64 lowercase hex digits of the SHA-256 of the document text, as registerTrustedDocuments returns it';

/** The document id of a text: hashed exactly as given (whitespace and comments count). */
export function documentIdOf(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

export function isDocumentId(value: unknown): value is string {
  return typeof value === 'string' && DOCUMENT_ID.test(value);
}
