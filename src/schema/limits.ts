/** Page sizes of every connection. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/**
 * Query cost limits: one page of 100 links with their relations fits easily; nesting pages in
 * pages (workspaces × links × …) does not, so one request cannot fan out into thousands of lookups.
 */
export const COMPLEXITY_LIMITS = { complexity: 5000, depth: 12, breadth: 150 };

/**
 * Limits on the document itself, for every request with or without a key: tokens before the
 * document is parsed, the others before anything executes. The clients of this API stay far
 * below them: GraphiQL's full introspection query has 184 tokens, nests 15 fields deep and uses
 * no alias or directive; the largest documents of the tests and the README have under 100 tokens
 * and 1 alias. Tokens: more than the 150 fields the cost limit allows take with their arguments,
 * and low because validating N repeats of a field costs about N² (graphql-js stops at a budget).
 * Depth counts fields (fragments are flattened), introspection included.
 */
export const DOCUMENT_LIMITS = { tokens: 1000, aliases: 20, depth: 20, directives: 50 };

/** Introspection-only results kept: the schema never changes while the process runs. */
export const INTROSPECTION_CACHE_ENTRIES = 50;
