import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import type { AuthenticatedKey } from '../auth/authenticate.ts';
import { keyRoles, trustedDocumentFor } from '../core/trusted-documents.ts';
import type { Role } from '../rules/permissions.ts';
import { DOCUMENT_ID_HINT, isDocumentId } from '../rules/trusted-documents.ts';

const badRequest = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });

/** The documentId of a persisted document request: a JSON body's field, or a GET request's query parameter. */
function documentIdOf(params: object, request: Request): unknown {
  const inBody = (params as { documentId?: unknown }).documentId;
  if (inBody !== undefined && inBody !== null) return inBody;
  if (request.method !== 'GET') return null;
  return new URL(request.url).searchParams.get('documentId');
}

/**
 * Trusted documents (GraphQL-over-HTTP persisted documents): `{"documentId": "sha256:…"}` runs a
 * document registered for a workspace the key reaches, for any key; a key with trustedDocumentsOnly
 * runs nothing else. Yoga's persisted-operations plugin swaps the document in; this decides, after
 * authentication (put it after the auth plugin), what it may swap in. The document is then parsed,
 * validated and limited like any other.
 */
export function trustedDocuments(keyOf: (request: Request) => AuthenticatedKey | null | undefined) {
  /** The roles read to decide a documentId, kept for the request's context so it reads them once. */
  const rolesRead = new WeakMap<Request, Promise<Map<string, Role>>>();
  const persisted = usePersistedOperations({
    allowArbitraryOperations: (request) => !keyOf(request)?.doc.trustedDocumentsOnly,
    extractPersistedOperationId: (params, request) => {
      const id = documentIdOf(params, request);
      return typeof id === 'string' ? id : null;
    },
    getPersistedOperation: (id, request) => {
      const key = keyOf(request);
      if (!key) return null;
      const roles = keyRoles(key);
      rolesRead.set(request, roles);
      return trustedDocumentFor(key, id, roles);
    },
    customErrors: {
      persistedQueryOnly: {
        message:
          'This API key runs trusted documents only: send {"documentId": "sha256:…"} of a document registered for its workspaces (registerTrustedDocuments) instead of a query.',
        extensions: { code: 'FORBIDDEN', reason: 'TRUSTED_DOCUMENTS_ONLY', http: { status: 403 } },
      },
      keyNotFound: { message: 'Send a GraphQL document as "query", or a trusted document\'s id as "documentId".', extensions: { code: 'BAD_REQUEST', http: { status: 400 } } },
      notFound: {
        message:
          'No trusted document with this documentId is registered for a workspace this key can reach: register it with registerTrustedDocuments (its id is the SHA-256 of its exact text), or send it as "query".',
        extensions: { code: 'PERSISTED_DOCUMENT_NOT_FOUND', http: { status: 400 } },
      },
    },
  });
  const plugin: Plugin = {
    onParams(payload) {
      const key = keyOf(payload.request);
      const documentId = documentIdOf(payload.params, payload.request);
      if (key === undefined) {
        // Refused by authentication, whose answer (401, 429) is set: an empty query keeps yoga's
        // later parameter check ("Must provide query string") from replacing it with a 400.
        if (documentId !== null && documentId !== undefined && !payload.params.query) payload.setParams({ ...payload.params, query: '' });
        return;
      }
      // Anonymous introspection: nothing to look up.
      if (key === null) return;
      if (documentId !== null && documentId !== undefined) {
        if (payload.params.query) throw badRequest('Send either "query" or "documentId", not both.');
        if (!isDocumentId(documentId)) throw badRequest(`documentId ${JSON.stringify(documentId).slice(0, 100)} is malformed: ${DOCUMENT_ID_HINT}.`);
      }
      return persisted.onParams!(payload);
    },
  };
  return { plugin, rolesRead: (request: Request) => rolesRead.get(request) };
}
