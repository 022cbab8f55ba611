import { GraphQLError, parse, validate, type GraphQLSchema } from 'graphql';
import { deleteTrustedDocuments, listTrustedDocuments, registerTrustedDocuments, type TrustedDocumentDoc } from '../core/trusted-documents.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { MAX_DOCUMENTS_PER_CALL, MAX_DOCUMENTS_PER_WORKSPACE } from '../rules/trusted-documents.ts';
import { builder } from './builder.ts';
import { mutationErrors } from './errors.ts';
import { onWorkspace, workspaceArg } from './guards.ts';
import { parseIdArg, parseQueryIdArg } from './ids.ts';
import { DOCUMENT_LIMITS } from './limits.ts';

const TrustedDocumentRef = builder.objectRef<TrustedDocumentDoc>('TrustedDocument').implement({
  description:
    'A GraphQL document registered as trusted in a workspace: keys run it by sending its documentId instead of a query, and keys with trustedDocumentsOnly run nothing else.',
  authScopes: { access: { resource: 'WORKSPACES', level: 'READ' } },
  fields: (t) => ({
    documentId: t.exposeString('_id', {
      description: 'What to send as `documentId`: "sha256:" + the lowercase hex SHA-256 of the exact document text.',
    }),
    document: t.exposeString('document', { description: 'The document text, exactly as registered.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was first registered (by any workspace).' }),
  }),
});

/**
 * The schema's own verdict on a document: the first syntax or validation error, or null. The token
 * limit is checked here because a document run by id skips the check made on a sent query.
 */
function documentProblem(schema: GraphQLSchema, text: string): string | null {
  let document;
  try {
    document = parse(text, { maxTokens: DOCUMENT_LIMITS.tokens });
  } catch (error) {
    return error instanceof GraphQLError ? error.message : 'it does not parse';
  }
  const [first] = validate(schema, document);
  return first ? first.message : null;
}

builder.queryField('trustedDocuments', (t) =>
  t.field({
    type: [TrustedDocumentRef],
    nullable: true,
    description: `The trusted documents registered in a workspace, newest first (at most ${MAX_DOCUMENTS_PER_WORKSPACE}); null when the workspace does not exist or this key cannot see it.`,
    authScopes: onWorkspace('WORKSPACES', 'READ', (args: { workspaceId: string }) => workspaceArg(args.workspaceId)),
    args: { workspaceId: t.arg.id({ required: true, description: 'The global id of the workspace.' }) },
    resolve: async (_root, args, ctx) => {
      try {
        return await listTrustedDocuments(ctx, parseQueryIdArg(args.workspaceId, 'Workspace', 'workspaceId'));
      } catch (error) {
        if (error instanceof NotFoundError) return null;
        throw error;
      }
    },
  }),
);

const TrustedDocumentsPayload = builder.objectRef<{ documents: TrustedDocumentDoc[] }>('RegisterTrustedDocumentsPayload').implement({
  description: 'The registered documents, in the order given (a text given twice once).',
  fields: (t) => ({
    documents: t.field({ type: [TrustedDocumentRef], description: 'The documents with their ids.', resolve: (p) => p.documents }),
  }),
});

const RegisterTrustedDocumentsInput = builder.inputType('RegisterTrustedDocumentsInput', {
  description: 'Documents to trust in a workspace.',
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    documents: t.stringList({
      required: true,
      description: `1 to ${MAX_DOCUMENTS_PER_CALL} GraphQL documents, each as the client will send it (its id is the hash of this exact text); each must be valid against the schema.`,
    }),
  }),
});

builder.mutationField('registerTrustedDocuments', (t) =>
  t.field({
    type: TrustedDocumentsPayload,
    nullable: true,
    description: 'Registers GraphQL documents as trusted in a workspace and returns their documentIds (workspaces:write; OWNER). Registering one again changes nothing.',
    authScopes: onWorkspace('WORKSPACES', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('RegisterTrustedDocuments', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: RegisterTrustedDocumentsInput, required: true, description: 'The workspace and the documents.' }) },
    resolve: async (_root, { input }, ctx, info) => ({
      documents: await registerTrustedDocuments(
        ctx,
        { workspaceId: parseIdArg(input.workspaceId, 'Workspace', 'input.workspaceId'), documents: input.documents },
        (text) => documentProblem(info.schema, text),
      ),
    }),
  }),
);

const DeleteTrustedDocumentsInput = builder.inputType('DeleteTrustedDocumentsInput', {
  description: 'Trusted documents to withdraw from a workspace.',
  fields: (t) => ({
    workspaceId: t.id({ required: true, description: 'The global id of the workspace.' }),
    documentIds: t.stringList({ required: true, description: `1 to ${MAX_DOCUMENTS_PER_CALL} documentIds (sha256:<hex>).` }),
  }),
});

const DeleteTrustedDocumentsPayload = builder.objectRef<{ deletedIds: string[] }>('DeleteTrustedDocumentsPayload').implement({
  description: 'What was withdrawn.',
  fields: (t) => ({
    deletedIds: t.exposeStringList('deletedIds', { description: 'The documentIds that were registered in the workspace and are no longer; ids that were not are left out.' }),
  }),
});

builder.mutationField('deleteTrustedDocuments', (t) =>
  t.field({
    type: DeleteTrustedDocumentsPayload,
    nullable: true,
    description:
      'Withdraws trusted documents from a workspace (workspaces:write; OWNER): keys stop running them there at once. A document no workspace registers any more is deleted.',
    authScopes: onWorkspace('WORKSPACES', 'WRITE', ({ input }: { input: { workspaceId: string } }) => workspaceArg(input.workspaceId)),
    errors: mutationErrors('DeleteTrustedDocuments', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: DeleteTrustedDocumentsInput, required: true, description: 'The workspace and the documentIds.' }) },
    resolve: async (_root, { input }, ctx) => ({
      deletedIds: await deleteTrustedDocuments(ctx, {
        workspaceId: parseIdArg(input.workspaceId, 'Workspace', 'input.workspaceId'),
        documentIds: input.documentIds,
      }),
    }),
  }),
);
