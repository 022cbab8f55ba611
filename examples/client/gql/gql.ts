/* eslint-disable */
import * as types from './graphql.ts';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "query Viewer {\n  viewer {\n    key {\n      name\n      hint\n      permission\n    }\n    user {\n      email\n    }\n    workspaces {\n      role\n      workspace {\n        id\n        name\n      }\n    }\n  }\n}\n\nquery LinksPage($workspaceId: ID!, $first: Int!, $after: String) {\n  links(workspaceId: $workspaceId, first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        id\n        slug\n        shortUrl\n        url\n        clicks\n      }\n    }\n  }\n}\n\nquery LinkStats($linkId: ID!) {\n  linkStats(linkId: $linkId) {\n    __typename\n    ... on LinkStats {\n      totalClicks\n      botClicks\n      referrers {\n        value\n        clicks\n      }\n    }\n    ... on ValidationError {\n      field\n      message\n    }\n  }\n}\n\nmutation CreateLink($input: CreateLinkInput!) {\n  createLink(input: $input) {\n    __typename\n    ... on LinkPayload {\n      link {\n        id\n        slug\n        shortUrl\n      }\n    }\n    ... on ConflictError {\n      field\n      message\n    }\n    ... on ValidationError {\n      field\n      message\n    }\n    ... on NotFoundError {\n      message\n    }\n  }\n}": typeof types.ViewerDocument,
};
const documents: Documents = {
    "query Viewer {\n  viewer {\n    key {\n      name\n      hint\n      permission\n    }\n    user {\n      email\n    }\n    workspaces {\n      role\n      workspace {\n        id\n        name\n      }\n    }\n  }\n}\n\nquery LinksPage($workspaceId: ID!, $first: Int!, $after: String) {\n  links(workspaceId: $workspaceId, first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        id\n        slug\n        shortUrl\n        url\n        clicks\n      }\n    }\n  }\n}\n\nquery LinkStats($linkId: ID!) {\n  linkStats(linkId: $linkId) {\n    __typename\n    ... on LinkStats {\n      totalClicks\n      botClicks\n      referrers {\n        value\n        clicks\n      }\n    }\n    ... on ValidationError {\n      field\n      message\n    }\n  }\n}\n\nmutation CreateLink($input: CreateLinkInput!) {\n  createLink(input: $input) {\n    __typename\n    ... on LinkPayload {\n      link {\n        id\n        slug\n        shortUrl\n      }\n    }\n    ... on ConflictError {\n      field\n      message\n    }\n    ... on ValidationError {\n      field\n      message\n    }\n    ... on NotFoundError {\n      message\n    }\n  }\n}": types.ViewerDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Viewer {\n  viewer {\n    key {\n      name\n      hint\n      permission\n    }\n    user {\n      email\n    }\n    workspaces {\n      role\n      workspace {\n        id\n        name\n      }\n    }\n  }\n}\n\nquery LinksPage($workspaceId: ID!, $first: Int!, $after: String) {\n  links(workspaceId: $workspaceId, first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        id\n        slug\n        shortUrl\n        url\n        clicks\n      }\n    }\n  }\n}\n\nquery LinkStats($linkId: ID!) {\n  linkStats(linkId: $linkId) {\n    __typename\n    ... on LinkStats {\n      totalClicks\n      botClicks\n      referrers {\n        value\n        clicks\n      }\n    }\n    ... on ValidationError {\n      field\n      message\n    }\n  }\n}\n\nmutation CreateLink($input: CreateLinkInput!) {\n  createLink(input: $input) {\n    __typename\n    ... on LinkPayload {\n      link {\n        id\n        slug\n        shortUrl\n      }\n    }\n    ... on ConflictError {\n      field\n      message\n    }\n    ... on ValidationError {\n      field\n      message\n    }\n    ... on NotFoundError {\n      message\n    }\n  }\n}"): (typeof documents)["query Viewer {\n  viewer {\n    key {\n      name\n      hint\n      permission\n    }\n    user {\n      email\n    }\n    workspaces {\n      role\n      workspace {\n        id\n        name\n      }\n    }\n  }\n}\n\nquery LinksPage($workspaceId: ID!, $first: Int!, $after: String) {\n  links(workspaceId: $workspaceId, first: $first, after: $after) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n    edges {\n      node {\n        id\n        slug\n        shortUrl\n        url\n        clicks\n      }\n    }\n  }\n}\n\nquery LinkStats($linkId: ID!) {\n  linkStats(linkId: $linkId) {\n    __typename\n    ... on LinkStats {\n      totalClicks\n      botClicks\n      referrers {\n        value\n        clicks\n      }\n    }\n    ... on ValidationError {\n      field\n      message\n    }\n  }\n}\n\nmutation CreateLink($input: CreateLinkInput!) {\n  createLink(input: $input) {\n    __typename\n    ... on LinkPayload {\n      link {\n        id\n        slug\n        shortUrl\n      }\n    }\n    ... on ConflictError {\n      field\n      message\n    }\n    ... on ValidationError {\n      field\n      message\n    }\n    ... on NotFoundError {\n      message\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;