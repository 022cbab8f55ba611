import { complexityFromQuery } from '@pothos/plugin-complexity';
import { RequestCache } from '@pothos/plugin-scope-auth';
import {
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isAbstractType,
  isObjectType,
  isAbstractType as isAbstract,
  Kind,
  typeFromAST,
  parse,
  specifiedRules,
  validate,
  valueFromASTUntyped,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLAbstractType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import type { Context } from '../context.ts';
import { unauthorizedError } from './auth-scopes.ts';
import { builder } from './builder.ts';
import { decodeNodeId } from './ids.ts';
import { DOCUMENT_LIMITS } from './limits.ts';
import { commonChecks, FOREIGN, permissionsIn, rulesOf, runOnProbe, type Rule, type RuleResult } from './rule-probes.ts';

export interface AuthorizationProblem {
  path: string;
  rule: string;
  permission: string | null;
  reason: string | null;
  message: string;
  conditional: boolean;
}

export interface AuthorizationCheck {
  allowed: boolean;
  requiredPermissions: string[];
  missingPermissions: string[];
  cost: number;
  problems: AuthorizationProblem[];
}

export interface AuthorizeInput {
  query: string;
  variables?: unknown;
  operationName?: string | null;
}

const badInput = (argument: string, message: string) =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', argument } });

type Fields = Map<string, FieldNode[]>;

/**
 * The fields a selection set asks of an object of type `runtime`, by response key, as graphql-js's
 * executor collects them: @skip/@include applied, fragments whose type condition matches merged.
 */
function collectFields(
  schema: GraphQLSchema,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
  runtime: GraphQLObjectType,
  selectionSet: SelectionSetNode,
  into: Fields = new Map(),
  spread = new Set<string>(),
): Fields {
  const included = (node: Parameters<typeof getDirectiveValues>[1]) =>
    getDirectiveValues(GraphQLSkipDirective, node, variables)?.if !== true && getDirectiveValues(GraphQLIncludeDirective, node, variables)?.if !== false;
  const matches = (condition: Parameters<typeof typeFromAST>[1] | undefined) => {
    if (!condition) return true;
    const type = typeFromAST(schema, condition);
    return type === runtime || (type !== undefined && isAbstract(type) && schema.isSubType(type, runtime));
  };
  for (const selection of selectionSet.selections) {
    if (!included(selection)) continue;
    if (selection.kind === Kind.FIELD) {
      const key = selection.alias?.value ?? selection.name.value;
      into.set(key, [...(into.get(key) ?? []), selection]);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (matches(selection.typeCondition)) collectFields(schema, fragments, variables, runtime, selection.selectionSet, into, spread);
    } else {
      const fragment = fragments[selection.name.value];
      if (spread.has(selection.name.value) || !fragment || !matches(fragment.typeCondition)) continue;
      spread.add(selection.name.value);
      collectFields(schema, fragments, variables, runtime, fragment.selectionSet, into, spread);
    }
  }
  return into;
}

/** Where a rule is checked: the response path, and what runtime FORBIDDEN errors would name. */
interface Site {
  path: string;
  parentType: string;
  fieldName: string;
  /** Depends on which object type an interface or union field returns. */
  conditional: boolean;
}

class DryRun {
  readonly required = new Set<string>();
  readonly problems = new Map<string, AuthorizationProblem>();
  private readonly seen = new Set<string>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly ctx: Context,
    private readonly fragments: Record<string, FragmentDefinitionNode>,
    private readonly variables: Record<string, unknown>,
  ) {}

  async walk(type: GraphQLObjectType, fields: Fields, path: string, conditional: boolean, root: boolean) {
    for (const [responseKey, nodes] of fields) {
      const def = type.getFields()[nodes[0]!.name.value];
      if (!def) continue; // __typename and introspection: no rules
      const fieldPath = path ? `${path}.${responseKey}` : responseKey;
      let args: Record<string, unknown>;
      try {
        args = getArgumentValues(def, nodes[0]!, this.variables);
      } catch (error) {
        throw badInput('input.variables', `input.variables: ${(error as Error).message}`);
      }
      await this.checkField(type, def, args, { path, fieldPath, conditional, root });
      const returned = getNamedType(def.type);
      if (!isObjectType(returned) && !isAbstractType(returned)) continue;
      const possible = isAbstractType(returned) ? this.possibleTypes(returned, args) : [returned];
      for (const runtime of possible) {
        const subfields: Fields = new Map();
        for (const node of nodes) if (node.selectionSet) collectFields(this.schema, this.fragments, this.variables, runtime, node.selectionSet, subfields);
        await this.walk(runtime, subfields, fieldPath, conditional || possible.length > 1, false);
      }
    }
  }

  /** The types an interface or union field may return; for `node(id:)`, the one its id names. */
  private possibleTypes(type: GraphQLAbstractType, args: Record<string, unknown>): readonly GraphQLObjectType[] {
    const all = this.schema.getPossibleTypes(type);
    if (typeof args.id !== 'string') return all;
    try {
      const named = all.find((candidate) => candidate.name === decodeNodeId(args.id as string).typename);
      return named ? [named] : all;
    } catch {
      return all; // not an id: the field itself answers BAD_USER_INPUT
    }
  }

  private async checkField(
    type: GraphQLObjectType,
    def: GraphQLField<unknown, unknown>,
    args: Record<string, unknown>,
    at: { path: string; fieldPath: string; conditional: boolean; root: boolean },
  ) {
    const { typeRules, fieldRule } = rulesOf(type, def);
    for (const { owner, rule } of typeRules) {
      // A type's rule runs for each of its fields, on the same object: reported once per object.
      const objectPath = at.path || at.fieldPath;
      if (this.seen.has(`${objectPath}|${owner}`)) continue;
      this.seen.add(`${objectPath}|${owner}`);
      await this.check(rule, 'type', args, at.root, { path: objectPath, parentType: type.name, fieldName: def.name, conditional: at.conditional });
    }
    if (fieldRule !== undefined) {
      await this.check(fieldRule, 'field', args, at.root, { path: at.fieldPath, parentType: type.name, fieldName: def.name, conditional: at.conditional });
    }
  }

  /**
   * A rule given as a map, or as a function of root arguments, is decided here. A function of the
   * object is run on two stand-ins, the caller's own object and someone else's: what both require
   * is certain, what only one requires depends on the data (a conditional problem).
   */
  private async check(rule: Rule, kind: 'type' | 'field', args: Record<string, unknown>, root: boolean, site: Site) {
    if (typeof rule !== 'function') return void (await this.decide(rule, site, site.conditional));
    if (root) return void (await this.decide(await (rule as (...a: unknown[]) => RuleResult)(undefined, args, this.ctx, null), site, site.conditional));
    const own = await runOnProbe(rule, kind, this.ctx.key!.userId, args, this.ctx);
    const other = await runOnProbe(rule, kind, FOREIGN, args, this.ctx);
    const maps = [own.map, other.map].filter((map) => map !== null);
    if (maps.length === 2 && !(await this.decide(commonChecks(maps[0]!, maps[1]!), site, site.conditional))) return;
    for (const map of maps) if (!(await this.decide(map, site, true))) return;
  }

  /** Evaluates a scope map with the executor's own scope loaders and cache; true when it passes. */
  private async decide(map: RuleResult, site: Site, conditional: boolean): Promise<boolean> {
    if (!conditional) for (const permission of permissionsIn(map)) this.required.add(permission);
    const failure = await RequestCache.fromContext(this.ctx, builder).evaluateScopeMap(map as never);
    if (!failure) return true;
    const info = { parentType: { name: site.parentType }, fieldName: site.fieldName } as GraphQLResolveInfo;
    const error = unauthorizedError(undefined, this.ctx, info, { failure } as never);
    const permission = (error.extensions.requiredPermission as string | undefined) ?? null;
    const key = `${site.path}|${error.message}`;
    if (!this.problems.has(key)) {
      this.problems.set(key, {
        path: site.path,
        rule: `${site.parentType}.${site.fieldName}`,
        permission,
        reason: (error.extensions.reason as string | undefined) ?? null,
        message: error.message,
        conditional,
      });
    }
    return false;
  }
}

/** Parses and validates a document, then checks every field it selects against the key, executing nothing. */
export async function authorizeDocument(schema: GraphQLSchema, requestContext: Context, input: AuthorizeInput): Promise<AuthorizationCheck> {
  // A view of the request's context with scope checks of its own (Pothos caches them per context
  // object) that record no permission use: asking is not using.
  const ctx: Context = Object.create(requestContext, { dryRun: { value: true } });
  let document: DocumentNode;
  try {
    document = parse(input.query, { maxTokens: DOCUMENT_LIMITS.tokens });
  } catch (error) {
    throw badInput('input.query', `input.query: ${(error as Error).message}`);
  }
  const invalid = validate(schema, document, specifiedRules, { maxErrors: 5, hideSuggestions: true });
  if (invalid.length > 0) throw badInput('input.query', `input.query is not valid against this schema: ${invalid.map((e) => e.message).join(' ')}`);
  const operation = getOperationAST(document, input.operationName ?? undefined);
  if (!operation) {
    throw badInput(
      'input.operationName',
      input.operationName
        ? `input.operationName: the document has no operation named "${input.operationName}".`
        : 'input.operationName is required when the document holds several operations.',
    );
  }
  const rawVariables = input.variables ?? {};
  if (typeof rawVariables !== 'object' || Array.isArray(rawVariables)) {
    throw badInput('input.variables', 'input.variables must be a JSON object of variable values, e.g. {"id": "…"}.');
  }
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables as Record<string, unknown>, { maxErrors: 5 });
  if (coerced.errors) throw badInput('input.variables', `input.variables: ${coerced.errors.map((e) => e.message).join(' ')}`);

  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  const rootType = schema.getRootType(operation.operation)!;
  const run = new DryRun(schema, ctx, fragments, coerced.coerced);
  await run.walk(rootType, collectFields(schema, fragments, coerced.coerced, rootType, operation.selectionSet), '', false, true);

  // The cost the server would compute for this operation (the plugin reads the first operation).
  const selected: DocumentNode = { kind: Kind.DOCUMENT, definitions: [operation, ...Object.values(fragments)] };
  const { complexity } = complexityFromQuery(selected, { schema, variables: rawVariables as Record<string, unknown>, ctx });

  const problems = [...run.problems.values()].sort((a, b) => Number(a.conditional) - Number(b.conditional));
  const certain = problems.filter((problem) => !problem.conditional);
  const missing = new Set(certain.map((problem) => problem.permission).filter((p): p is string => p !== null && /:(read|write)$/.test(p)));
  return {
    allowed: certain.length === 0,
    requiredPermissions: [...run.required].sort(),
    missingPermissions: [...missing].sort(),
    cost: complexity,
    problems,
  };
}

builder.scalarType('JSON', {
  description: 'Any JSON value: an object, array, string, number, boolean or null.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});

const AuthorizationProblemRef = builder.objectRef<AuthorizationProblem>('AuthorizationProblem').implement({
  description: 'One check of the document that fails (or, when conditional, may fail) for this key.',
  // Describes the caller's own key only; never another object.
  authScopes: { authenticated: true },
  fields: (t) => ({
    path: t.exposeString('path', { description: 'The response path of the field or object checked, by alias, e.g. `links.edges.node.createdBy.email`.' }),
    rule: t.exposeString('rule', { description: 'The schema field whose rule fails, e.g. `Mutation.createLink`.' }),
    permission: t.string({
      nullable: true,
      description: 'The missing permission, e.g. `links:write`; null when the refusal is not about a permission (a workspace key policy).',
      resolve: (problem) => problem.permission,
    }),
    reason: t.string({
      nullable: true,
      description: 'Why, as in the FORBIDDEN error the request would get: SCOPE (the key), ROLE (the user\'s role), POLICY (a workspace key policy).',
      resolve: (problem) => problem.reason,
    }),
    message: t.exposeString('message', { description: 'The message of the FORBIDDEN error the request would get.' }),
    conditional: t.exposeBoolean('conditional', {
      description:
        "True when the check depends on the data returned (another user's e-mail needs workspaces:read, the caller's own does not; a field of one member of a union): the request may succeed, and this field may then fail.",
    }),
  }),
});

const AuthorizationCheckRef = builder.objectRef<AuthorizationCheck>('AuthorizationCheck').implement({
  description: 'What running a document with the calling key would meet, found without executing it.',
  authScopes: { authenticated: true },
  fields: (t) => ({
    allowed: t.exposeBoolean('allowed', { description: 'True when no check is certain to fail (conditional problems aside).' }),
    requiredPermissions: t.exposeStringList('requiredPermissions', {
      description: 'Every permission the document certainly needs, e.g. `links:write`, sorted.',
    }),
    missingPermissions: t.exposeStringList('missingPermissions', {
      description: 'Those of them this key (or its user\'s role in the workspaces named) lacks, sorted.',
    }),
    cost: t.exposeInt('cost', { description: 'The query cost the server computes for the document (limit 5000).' }),
    problems: t.field({
      type: [AuthorizationProblemRef],
      description: 'Every failing check with its path, certain ones first.',
      resolve: (check) => check.problems,
    }),
  }),
});

const AuthorizeInputRef = builder.inputType('AuthorizeInput', {
  description: 'A GraphQL document to check, as it would be sent to /graphql.',
  fields: (t) => ({
    query: t.string({ required: true, description: 'The document.' }),
    variables: t.field({ type: 'JSON', description: 'Its variables: workspace and object ids found here are checked against the user\'s roles.' }),
    operationName: t.string({ description: 'The operation to check, when the document holds several.' }),
  }),
});

builder.queryField('authorize', (t) =>
  t.field({
    type: AuthorizationCheckRef,
    description:
      'Checks, without executing anything, whether the calling key may run a document: the permissions it needs and lacks, and its cost. Workspace roles are checked for the workspaces its arguments name (workspace ids, or ids of links, projects, domains and invitations).',
    authScopes: { authenticated: true },
    args: { input: t.arg({ type: AuthorizeInputRef, required: true, description: 'The document, its variables and operation name.' }) },
    resolve: (_root, { input }, ctx, info) => authorizeDocument(info.schema, ctx, input),
  }),
);
