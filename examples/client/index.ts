/**
 * A typed client of the taapit API: checks the key, pages a workspace's links, reads the stats of
 * the most clicked one and creates a link, handling createLink's typed errors.
 *
 *   TAAPIT_API_URL=http://127.0.0.1:4000/graphql TAAPIT_API_KEY=taapit_… npm run example:client
 *
 * Optional: TAAPIT_WORKSPACE_ID (default: the key's first workspace), TAAPIT_PAGE_SIZE (1–100, default 20).
 * The operations are in operations.graphql; `npm run codegen:client` writes their types to gql/.
 */
import { ClientError, GraphQLClient } from 'graphql-request';
import {
  CreateLinkDocument,
  LinksPageDocument,
  LinkStatsDocument,
  ViewerDocument,
  type CreateLinkMutation,
  type LinksPageQuery,
} from './gql/graphql.ts';

type Link = NonNullable<LinksPageQuery['links']>['edges'][number]['node'];

function required(name: string): string {
  const value = process.env[name];
  if (value) return value;
  console.error(`${name} is not set. Example: TAAPIT_API_URL=http://127.0.0.1:4000/graphql TAAPIT_API_KEY=taapit_… npm run example:client`);
  process.exit(2);
}

function endpointUrl(): URL {
  const raw = required('TAAPIT_API_URL');
  try {
    return new URL(raw);
  } catch {
    console.error(`TAAPIT_API_URL is not a URL: give the API's address, e.g. http://127.0.0.1:4000/graphql`);
    process.exit(2);
  }
}

const endpoint = endpointUrl();
if (endpoint.pathname === '/') endpoint.pathname = '/graphql';
// The key goes in a header, never in the URL.
const client = new GraphQLClient(endpoint.href, { headers: { authorization: `Bearer ${required('TAAPIT_API_KEY')}` } });
const pageSize = Number(process.env.TAAPIT_PAGE_SIZE ?? 20);

/** Every link of a workspace: each page starts after the last cursor of the one before. */
async function allLinks(workspaceId: string): Promise<{ links: Link[]; pages: number; totalCount: number }> {
  const links: Link[] = [];
  let after: string | null = null;
  for (let pages = 1; ; pages++) {
    const { links: page }: LinksPageQuery = await client.request(LinksPageDocument, { workspaceId, first: pageSize, after });
    if (!page) throw new Error('links answered null');
    links.push(...page.edges.map((edge) => edge.node));
    if (!page.pageInfo.hasNextPage) return { links, pages, totalCount: page.totalCount };
    after = page.pageInfo.endCursor;
  }
}

/** One line per member of createLink's union; `never` makes tsc fail when the schema adds one. */
function describe(result: CreateLinkMutation['createLink']): string {
  if (!result) return 'no answer';
  switch (result.__typename) {
    case 'LinkPayload':
      return `created ${result.link.shortUrl}`;
    case 'ConflictError':
    case 'ValidationError':
      return `${result.__typename} on ${result.field}: ${result.message}`;
    case 'NotFoundError':
      return `NotFoundError: ${result.message}`;
    default: {
      const unhandled: never = result;
      return `unexpected answer ${JSON.stringify(unhandled)}`;
    }
  }
}

async function main(): Promise<number> {
  const { viewer } = await client.request(ViewerDocument);
  console.log(`key ${viewer.key.hint} (${viewer.key.permission}) of ${viewer.user.email}`);
  const wanted = process.env.TAAPIT_WORKSPACE_ID;
  const reach = wanted ? viewer.workspaces.find((w) => w.workspace.id === wanted) : viewer.workspaces[0];
  if (!reach) {
    console.error(wanted ? `this key cannot reach workspace ${wanted}` : 'this key reaches no workspace: create one with createWorkspace');
    return 1;
  }
  const workspaceId = reach.workspace.id;
  console.log(`workspace ${reach.workspace.name} (${reach.role})`);

  const { links, pages, totalCount } = await allLinks(workspaceId);
  console.log(`links: ${links.length} of ${totalCount}, in ${pages} pages of at most ${pageSize}`);

  const top = links.reduce<Link | undefined>((best, link) => (best && best.clicks >= link.clicks ? best : link), undefined);
  if (top) {
    const { linkStats } = await client.request(LinkStatsDocument, { linkId: top.id });
    if (linkStats?.__typename === 'LinkStats') {
      const referrer = linkStats.referrers[0];
      console.log(
        `most clicked: ${top.shortUrl} -> ${top.url}: ${linkStats.totalClicks} clicks, ${linkStats.botClicks} bot clicks in 30 days` +
          (referrer ? `, top referrer ${referrer.value} (${referrer.clicks})` : ''),
      );
    } else if (linkStats) console.log(`stats refused on ${linkStats.field}: ${linkStats.message}`);
  }

  // The second claim of the same slug answers a typed ConflictError, in `data`: no exception to catch.
  const input = { workspaceId, url: 'https://example.com/from-the-client-example', slug: `client-example-${Date.now().toString(36)}` };
  for (const attempt of ['first', 'again']) {
    const { createLink } = await client.request(CreateLinkDocument, { input });
    console.log(`createLink ${input.slug} (${attempt}): ${describe(createLink)}`);
  }
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    // A refused request (401 bad key, 403, 429, FORBIDDEN on a field…) throws ClientError.
    if (error instanceof ClientError) {
      const first = error.response.errors?.[0];
      console.error(`refused (HTTP ${error.response.status}, ${first?.extensions?.code ?? 'no code'}): ${first?.message ?? error.response.body}`);
    } else console.error(error);
    process.exitCode = 1;
  },
);
