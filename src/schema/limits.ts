/** Page sizes of every connection. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/**
 * Query cost limits: one page of 100 links with their relations fits easily; nesting pages in
 * pages (workspaces × links × …) does not, so one request cannot fan out into thousands of lookups.
 */
export const COMPLEXITY_LIMITS = { complexity: 5000, depth: 12, breadth: 150 };
