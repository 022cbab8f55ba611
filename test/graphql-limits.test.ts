import { readFileSync } from 'node:fs';
import { GraphQLObjectType, GraphQLSchema, GraphQLString, getIntrospectionQuery } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheIntrospection } from '../src/http/graphql-limits.ts';
import { DOCUMENT_LIMITS } from '../src/schema/limits.ts';
import { createTestApp, gql, makeKey, makeUser, useTestDatabase, type GqlResult, type TestApp } from './helpers.ts';

const { db } = useTestDatabase();
let t: TestApp;
let off: TestApp;
let key: string;

beforeAll(async () => {
  t = createTestApp(db());
  off = createTestApp(db(), { INTROSPECTION: 'off' });
  key = (await makeKey(await makeUser())).secret;
});
afterAll(async () => {
  await t.close();
  await off.close();
});

/** Anonymous calls come from distinct addresses so the per-address anonymous rate limit never interferes. */
let address = 0;
const anonymous = (query: string, variables: Record<string, unknown> = {}) => gql(t.app, query, variables, { ip: `198.51.100.${++address}` });
const keyed = (query: string, variables: Record<string, unknown> = {}) => gql(t.app, query, variables, { key });

/** Refused as a whole: 400, no data, one clean QUERY_TOO_COMPLEX error naming the limit. */
function expectTooComplex(result: GqlResult, message: RegExp) {
  expect(result.status).toBe(400);
  expect(result.body.data).toBeUndefined();
  const limitErrors = result.body.errors?.filter((e) => e.extensions?.code === 'QUERY_TOO_COMPLEX') ?? [];
  expect(limitErrors.map((e) => e.message).join('\n')).toMatch(message);
  for (const error of limitErrors) expect(error.message).toMatch(/split it into several requests\.$|single __schema/);
  const text = JSON.stringify(result.body);
  expect(text).not.toMatch(/Syntax Error|Did you mean|\bat \S+:\d+|INTERNAL_SERVER_ERROR/);
}

const aliases = (n: number, field: string) => Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ');
const nested = (levels: number, field: string, leaf: string) => `${`${field} { `.repeat(levels)}${leaf}${' }'.repeat(levels)}`;

describe('every document is bounded, with or without a key', () => {
  it('aliases of __typename: 400 without a key, and with one', async () => {
    // 1000 aliases take 3000 tokens: the token limit refuses them first.
    const thousand = `{ ${aliases(1000, '__typename')} }`;
    expectTooComplex(await anonymous(thousand), /more than \d+ (tokens|aliases)/);
    expectTooComplex(await keyed(thousand), /more than \d+ (tokens|aliases)/);
    const overLimit = `{ ${aliases(DOCUMENT_LIMITS.aliases + 1, '__typename')} }`;
    expectTooComplex(await anonymous(overLimit), new RegExp(`more than ${DOCUMENT_LIMITS.aliases} aliases`));
    expectTooComplex(await keyed(overLimit), new RegExp(`more than ${DOCUMENT_LIMITS.aliases} aliases`));
    expect((await anonymous(`{ ${aliases(DOCUMENT_LIMITS.aliases, '__typename')} }`)).status).toBe(200);
  });

  it('aliases of data fields are counted for keyed documents too', async () => {
    expectTooComplex(await keyed(`{ viewer { key { ${aliases(DOCUMENT_LIMITS.aliases + 1, 'name')} } } }`), /aliases/);
    const ok = await keyed(`{ viewer { key { ${aliases(DOCUMENT_LIMITS.aliases, 'name')} } } }`);
    expect(ok.status).toBe(200);
    expect(ok.body.data.viewer.key.a0).toBe('FULL key');
  });

  it('at most one __schema per operation: aliases and fragments count', async () => {
    const started = performance.now();
    const thirty = await anonymous(`{ ${aliases(30, '__schema { types { name fields { name } } }')} }`);
    console.log(`30 aliased __schema, anonymous: HTTP ${thirty.status}, ${JSON.stringify(thirty.body).length} bytes in ${Math.round(performance.now() - started)} ms`);
    expectTooComplex(thirty, /one __schema field per operation/);
    expectTooComplex(await anonymous('{ __schema { queryType { name } } s: __schema { mutationType { name } } }'), /one __schema/);
    expectTooComplex(
      await keyed('{ ...A ...B } fragment A on Query { __schema { queryType { name } } } fragment B on Query { b: __schema { queryType { name } } }'),
      /one __schema/,
    );
    // A fragment cycle is an ordinary validation error, never a hang or a 500.
    const cycle = await keyed('{ ...A } fragment A on Query { __schema { queryType { name } } ...A }');
    expect(cycle.status).toBe(400);
    expect(cycle.body.errors?.[0]?.message).toMatch(/Cannot spread fragment "A" within itself/);
    const one = await anonymous('{ ...A } fragment A on Query { __schema { queryType { name } } }');
    expect(one.status).toBe(200);
    expect(one.body.data.__schema.queryType.name).toBe('Query');
  });

  it('an 800 KB document of directives is refused while it is lexed, in a few ms', async () => {
    const query = `{ __typename ${'@a '.repeat(270_000)}}`;
    expect(query.length).toBeGreaterThan(800_000);
    for (const send of [anonymous, anonymous, keyed]) {
      const started = performance.now();
      const result = await send(query);
      console.log(`800 KB directives document, ${send === keyed ? 'keyed' : 'anonymous'}: HTTP ${result.status} in ${(performance.now() - started).toFixed(1)} ms`);
      expectTooComplex(result, new RegExp(`more than ${DOCUMENT_LIMITS.tokens} tokens`));
    }
  });

  it('directives are counted per operation', async () => {
    const many = (n: number) => `{ ${Array.from({ length: n }, () => '__typename @include(if: true)').join(' ')} }`;
    expectTooComplex(await anonymous(many(DOCUMENT_LIMITS.directives + 1)), new RegExp(`more than ${DOCUMENT_LIMITS.directives} directives`));
    expect((await anonymous(many(DOCUMENT_LIMITS.directives))).status).toBe(200);
  });

  it('a document over the token limit is refused whoever sends it, before its key is looked up', async () => {
    const query = `{ viewer { key { ${'name '.repeat(DOCUMENT_LIMITS.tokens)}} } }`;
    expectTooComplex(await keyed(query), /tokens/);
    expectTooComplex(await anonymous(query), /tokens/);
  });

  it('deep nesting is refused, in introspection and in data', async () => {
    const depth = DOCUMENT_LIMITS.depth;
    // ofType is not a list, so graphql's own introspection depth rule lets it through.
    expectTooComplex(await anonymous(`{ __schema { queryType { ${nested(depth, 'ofType', 'name')} } } }`), new RegExp(`more than ${depth} levels`));
    expectTooComplex(await keyed(`{ viewer { key { ${nested(depth, 'createdBy', 'name')} } } }`), new RegExp(`more than ${depth} levels`));
    const fragments = `{ viewer { ...K } } fragment K on Viewer { key { ${nested(depth, 'createdBy', 'name')} } }`;
    expectTooComplex(await keyed(fragments), /levels/);
    // The data cost limit (12 deep) still applies under this one, as before.
    const cost = await keyed(`{ viewer { key { ${nested(12, 'createdBy', 'name')} } } }`);
    expect(cost.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  });
});

describe('what real clients send still passes', () => {
  const introspectionQueries = {
    'GraphiQL (default options)': getIntrospectionQuery(),
    'GraphiQL (every option)': getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    }),
  };

  for (const [name, query] of Object.entries(introspectionQueries)) {
    it(`${name} introspection query: 200 without a key and with one, the same result every time`, async () => {
      const timings: number[] = [];
      const results: GqlResult[] = [];
      for (const send of [anonymous, anonymous, keyed, anonymous]) {
        const started = performance.now();
        results.push(await send(query));
        timings.push(performance.now() - started);
      }
      console.log(`${name} introspection query: ${timings.map((ms) => `${ms.toFixed(1)} ms`).join(', ')} (first, repeated, keyed, repeated)`);
      for (const result of results) {
        expect(result.status).toBe(200);
        expect(result.body.errors).toBeUndefined();
        expect(result.body).toEqual(results[0]!.body);
      }
      expect(results[0]!.body.data.__schema.types.length).toBeGreaterThan(50);
    });
  }

  it('the README examples and the largest test documents pass the limits', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const documents = [...readme.matchAll(/"query":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    expect(documents.length).toBeGreaterThan(5);
    documents.push(
      '{ links(first: 100) { edges { node { id slug url project { name } domain { hostname } createdBy { email } workspace { name } } } } }',
      'query($p: ID!, $w: ID!) { links(first: 10, filter: { projectId: $p }) { totalCount } byWorkspace: links(workspaceId: $w, first: 10) { totalCount } }',
    );
    for (const document of documents) {
      const result = await keyed(document);
      // Variables are left out, so some fail on them: only the limits matter here.
      expect(result.body.errors?.filter((e) => e.extensions?.code === 'QUERY_TOO_COMPLEX') ?? [], document).toEqual([]);
      expect(result.status, document).not.toBe(500);
    }
  });
});

describe('introspection cache', () => {
  /** A schema whose introspection counts how often it is computed. */
  function countingSchema() {
    let computed = 0;
    const query = new GraphQLObjectType({ name: 'Query', fields: { hello: { type: GraphQLString } } });
    Object.defineProperty(query, 'description', {
      get: () => {
        computed += 1;
        return 'The root.';
      },
    });
    return { schema: new GraphQLSchema({ query }), computed: () => computed };
  }

  async function post(yoga: ReturnType<typeof createYoga>, query: string, variables: Record<string, unknown> = {}) {
    const response = await yoga.fetch('http://tpt.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return response.json();
  }

  it('computes an introspection-only operation once per document, operation name and variables', async () => {
    const { schema, computed } = countingSchema();
    const yoga = createYoga({ schema, logging: false, plugins: [cacheIntrospection()] });
    const query = 'query Q($name: String!) { __type(name: $name) { name description } }';
    const first = await post(yoga, query, { name: 'Query' });
    expect(first.data.__type).toEqual({ name: 'Query', description: 'The root.' });
    expect(computed()).toBe(1);
    expect(await post(yoga, query, { name: 'Query' })).toEqual(first);
    expect(computed()).toBe(1);
    // Other variables are another entry.
    expect((await post(yoga, query, { name: 'String' })).data.__type.name).toBe('String');
    // Data is never cached.
    await post(yoga, '{ hello __type(name: "Query") { description } }');
    await post(yoga, '{ hello __type(name: "Query") { description } }');
    expect(computed()).toBe(3);
  });

  it('is bounded: the least recently used entry is dropped first', async () => {
    const { schema, computed } = countingSchema();
    const yoga = createYoga({ schema, logging: false, plugins: [cacheIntrospection(2)] });
    const doc = (n: number) => `{ __type(name: "Query") { description } n${n}: __typename }`;
    await post(yoga, doc(1));
    await post(yoga, doc(2));
    await post(yoga, doc(1));
    await post(yoga, doc(3)); // drops doc(2)
    expect(computed()).toBe(3);
    await post(yoga, doc(1));
    expect(computed()).toBe(3);
    await post(yoga, doc(2));
    expect(computed()).toBe(4);
  });
});

describe('suggestions', () => {
  it('INTROSPECTION=off: no "Did you mean" in validation or variable errors; public: they help', async () => {
    const offKeyed = (query: string, variables: Record<string, unknown> = {}) => gql(off.app, query, variables, { key });
    const field = await offKeyed('{ viewr }');
    expect(field.status).toBe(400);
    expect(field.body.errors?.[0]?.message).toBe('Cannot query field "viewr" on type "Query".');
    const argument = await offKeyed('{ links(frist: 1) { totalCount } }');
    expect(argument.body.errors?.[0]?.message).toMatch(/^Unknown argument "frist" on field "Query.links"\.$/);
    const enumValue = await offKeyed('mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename } }', {
      input: { name: 'x', permission: 'FUL' },
    });
    expect(enumValue.body.errors?.[0]?.message).toMatch(/FUL/);
    for (const result of [field, argument, enumValue]) expect(JSON.stringify(result.body)).not.toMatch(/Did you mean|viewer|"first"|FULL/);

    expect((await keyed('{ viewr }')).body.errors?.[0]?.message).toMatch(/Did you mean "viewer"\?/);
  });
});
