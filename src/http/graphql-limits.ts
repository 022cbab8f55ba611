import { createHash } from 'node:crypto';
import {
  GraphQLError,
  Kind,
  Lexer,
  Source,
  TokenKind,
  type ASTVisitor,
  type DocumentNode,
  type ExecutionResult,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { DOCUMENT_LIMITS, INTROSPECTION_CACHE_ENTRIES } from '../schema/limits.ts';

/**
 * A document over a limit: HTTP 400 whatever the Accept header (the request is refused, like a
 * body over the size limit), one code for every limit, the limit and the way out in the message.
 */
function tooComplex(message: string, limit: number): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'QUERY_TOO_COMPLEX', limit, http: { status: 400, spec: false } } });
}

const SPLIT = 'or split it into several requests';

/** True when every root field of the operation that would run is __schema, __type or __typename. */
export function isIntrospectionOnly(document: DocumentNode, operationName?: string | null): boolean {
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])),
  );
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
  if (!operation || (!operationName && operations.length > 1)) return false;
  const onlyIntrospection = (set: SelectionSetNode, seen: Set<string>): boolean =>
    set.selections.every((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value.startsWith('__');
      if (selection.kind === Kind.INLINE_FRAGMENT) return onlyIntrospection(selection.selectionSet, seen);
      const name = selection.name.value;
      const fragment = fragments.get(name);
      if (!fragment || seen.has(name)) return false;
      return onlyIntrospection(fragment.selectionSet, new Set([...seen, name]));
    });
  return onlyIntrospection(operation.selectionSet, new Set());
}

/** True when the document has more tokens than `max`; lexes at most max + 1 tokens. */
export function exceedsTokens(query: string, max: number): boolean {
  const lexer = new Lexer(new Source(query));
  try {
    for (let count = 0; lexer.advance().kind !== TokenKind.EOF; ) if (++count > max) return true;
  } catch {
    // A syntax error: the parser reports it with its position.
  }
  return false;
}

/** Counts __schema fields as they would execute: aliases and every spread of a fragment count. */
export function SingleSchemaFieldRule(context: ValidationContext): ASTVisitor {
  const fragmentCounts = new Map<string, number>();
  const count = (set: SelectionSetNode | undefined): number => {
    let total = 0;
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) total += (selection.name.value === '__schema' ? 1 : 0) + count(selection.selectionSet);
      else if (selection.kind === Kind.INLINE_FRAGMENT) total += count(selection.selectionSet);
      else {
        const name = selection.name.value;
        if (!fragmentCounts.has(name)) {
          fragmentCounts.set(name, 0); // a cycle (refused by another rule) ends here
          fragmentCounts.set(name, count(context.getFragment(name)?.selectionSet));
        }
        total += fragmentCounts.get(name)!;
      }
    }
    return total;
  };
  return {
    OperationDefinition(operation) {
      if (count(operation.selectionSet) > 1) {
        context.reportError(
          new GraphQLError('Only one __schema field per operation: select everything you need inside a single __schema { ... } (aliases and fragments count).', {
            nodes: operation,
            extensions: { code: 'QUERY_TOO_COMPLEX', limit: 1, http: { status: 400, spec: false } },
          }),
        );
      }
    },
  };
}

/**
 * Bounds every document, with or without a key. The token count is checked as soon as the
 * parameters are known, before authentication (which parses anonymous documents) and before
 * parsing, so an oversized document costs at most lexing `tokens` tokens. Aliases, depth,
 * directives and __schema fields are validation rules, checked before anything executes.
 * Put it first in the plugin list.
 */
export function documentLimits(limits = DOCUMENT_LIMITS): Plugin {
  const { tokens, aliases, depth, directives } = limits;
  const report = (message: string, limit: number) => (context: ValidationContext | null) => context?.reportError(tooComplex(message, limit));
  const rules = [
    maxAliasesRule({
      n: aliases,
      allowList: [], // aliases of __typename count too: they still multiply the response
      propagateOnRejection: false,
      onReject: [report(`The operation has more than ${aliases} aliases, the limit: request fewer aliased fields ${SPLIT}.`, aliases)],
    }),
    maxDepthRule({
      n: depth,
      ignoreIntrospection: false,
      flattenFragments: true,
      propagateOnRejection: false,
      onReject: [report(`The operation nests fields more than ${depth} levels deep, the limit: select less deeply ${SPLIT}.`, depth)],
    }),
    maxDirectivesRule({
      n: directives,
      propagateOnRejection: false,
      onReject: [report(`The operation has more than ${directives} directives, the limit: use fewer @include/@skip ${SPLIT}.`, directives)],
    }),
    SingleSchemaFieldRule,
  ];
  return {
    onParams({ params }) {
      if (typeof params.query === 'string' && exceedsTokens(params.query, tokens)) {
        throw tooComplex(`The document has more than ${tokens} tokens, the limit: send a smaller query (fewer fields, arguments or fragments) ${SPLIT}.`, tokens);
      }
    },
    onValidate({ addValidationRule }) {
      for (const rule of rules) addValidationRule(rule);
    },
  };
}

const SUGGESTION = / ?Did you mean [^?]*\?/g;

function withoutSuggestions<E extends Error>(error: E): E | GraphQLError {
  if (!(error instanceof GraphQLError) || !error.message.includes('Did you mean')) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/**
 * Removes "Did you mean …" from validation and execution errors (unknown fields, arguments,
 * types, enum values), which would otherwise spell out the schema to a caller who may not
 * introspect it. For INTROSPECTION=off.
 */
export function hideSuggestions(): Plugin {
  return {
    onValidate() {
      return ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map(withoutSuggestions));
      };
    },
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (!isAsyncIterable(result) && result.errors) setResult({ ...result, errors: result.errors.map(withoutSuggestions) });
        },
      };
    },
  };
}

/**
 * Serves introspection-only operations from memory: the schema is static, so the same document,
 * operation name and variables always give the same result, whoever asks. Only results without
 * errors are kept; the least recently used entry goes first.
 */
export function cacheIntrospection(maxEntries = INTROSPECTION_CACHE_ENTRIES): Plugin {
  const cache = new Map<string, ExecutionResult>();
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const query = (args.contextValue as { params?: { query?: unknown } }).params?.query;
      if (typeof query !== 'string' || !isIntrospectionOnly(args.document, args.operationName)) return;
      // Hashed: a document under the token limit may still carry up to a megabyte of comments.
      const key = createHash('sha256')
        .update(JSON.stringify([query, args.operationName ?? null, args.variableValues ?? null]))
        .digest('base64');
      const cached = cache.get(key);
      if (cached) {
        cache.delete(key);
        cache.set(key, cached);
        setResultAndStopExecution(cached);
        return;
      }
      return {
        onExecuteDone({ result }) {
          if (isAsyncIterable(result) || result.errors) return;
          cache.set(key, result);
          if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
        },
      };
    },
  };
}
