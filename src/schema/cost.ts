import {
  getArgumentValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { complexityFromQuery, type ComplexityResult } from '@pothos/plugin-complexity';

/**
 * The requested cost of the operation that would run: the complexity the server already limits
 * (@pothos/plugin-complexity with fieldComplexity: 1 per field, connections times their page
 * size), for that operation alone. Null when it cannot be computed (bad variables): execution
 * then refuses the request itself.
 */
export function requestedCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  ctx: object,
): ComplexityResult | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  // complexityFromQuery takes the document's first operation: keep only the one that runs.
  const single = { ...document, definitions: document.definitions.filter((d) => d.kind !== Kind.OPERATION_DEFINITION || d === operation) };
  try {
    return complexityFromQuery(single, { schema, ctx, variables: variables ?? {} });
  } catch {
    return null;
  }
}

type ComplexityOption = number | { field?: number; multiplier?: number } | ((args: object, ctx: object, field: GraphQLField<unknown, unknown>) => number | { field?: number; multiplier?: number });

interface Walk {
  schema: GraphQLSchema;
  fragments: Record<string, FragmentDefinitionNode>;
  variableValues: Record<string, unknown>;
  ctx: object;
  /** Per field node: its settings depend only on the node and the variables, so each is read once per walk. */
  settings: Map<FieldNode, { own: number; multiplier: number }>;
}

function isList(type: GraphQLOutputType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/** A field's own cost and multiplier, exactly as the complexity plugin reads them. */
function fieldSettings(walk: Walk, field: GraphQLField<unknown, unknown>, node: FieldNode): { own: number; multiplier: number } {
  const known = walk.settings.get(node);
  if (known) return known;
  let option = field.extensions?.complexity as ComplexityOption | undefined;
  // The plugin maps arguments first; the costs here read only plain ints (first, last), which no mapper changes.
  if (typeof option === 'function') option = option(getArgumentValues(field, node, walk.variableValues), walk.ctx, field);
  const own = typeof option === 'number' ? option : (option?.field ?? 1);
  const multiplier = typeof option === 'object' && option.multiplier !== undefined ? option.multiplier : isList(field.type) ? 10 : 1;
  const settings = { own, multiplier: Math.max(multiplier, 0) };
  walk.settings.set(node, settings);
  return settings;
}

/**
 * The cost of a selection set over what it answered: a field absent from the answer (a fragment
 * of another type, a parent that was null) costs nothing. `items`, for a connection's own
 * selection, is how many items it is charged for: each field under it counts that many times,
 * except that a list (edges, nodes) counts its first `items` elements once each.
 */
function selectionCost(walk: Walk, set: SelectionSetNode, type: GraphQLNamedType, value: Record<string, unknown>, items?: number): number {
  let cost = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      const key = selection.alias?.value ?? selection.name.value;
      if (key in value) cost += fieldCost(walk, selection, type, value[key], items);
      continue;
    }
    const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? walk.fragments[selection.name.value] : selection;
    if (!fragment) continue;
    const condition = fragment.typeCondition ? walk.schema.getType(fragment.typeCondition.name.value) : type;
    cost += selectionCost(walk, fragment.selectionSet, condition ?? type, value, items);
  }
  return cost;
}

function fieldCost(walk: Walk, node: FieldNode, parent: GraphQLNamedType, value: unknown, items?: number): number {
  const times = items ?? 1;
  const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[node.name.value] : undefined;
  // __typename, __schema, __type: the plugin's default cost, nothing below.
  if (!field) return times;
  const { own, multiplier } = fieldSettings(walk, field, node);
  if (!node.selectionSet || value === null || value === undefined) return times * own;
  const type = getNamedType(field.type);
  const itemCost = (item: unknown) =>
    item !== null && typeof item === 'object' ? selectionCost(walk, node.selectionSet!, type, item as Record<string, unknown>) : 0;
  if (Array.isArray(value)) {
    // Under a connection: its items, one each. Elsewhere a list costs like `multiplier` of its
    // items, the dearest ones, so never more than requested.
    const costs = items !== undefined ? value.slice(0, items).map(itemCost) : value.map(itemCost).sort((a, b) => b - a).slice(0, Math.ceil(multiplier));
    return times * own + costs.reduce((sum, c) => sum + c, 0);
  }
  if (multiplier <= 1) return times * (own + multiplier * itemCost(value));
  // A connection: requested as `multiplier` items, charged for the items it returned (at least one).
  const record = value as Record<string, unknown>;
  let returned = 1;
  for (const v of Object.values(record)) if (Array.isArray(v) && v.length > returned) returned = v.length;
  return times * (own + selectionCost(walk, node.selectionSet, type, record, Math.min(Math.ceil(multiplier), returned)));
}

/**
 * The actual cost: the same sum over what the operation answered (`data`), connections counting
 * the items they returned instead of their page size. Never more than the requested cost; equal
 * when every page came back full.
 */
export function actualCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | null | undefined,
  data: unknown,
  ctx: object,
): number {
  if (data === null || typeof data !== 'object') return 0;
  const root = schema.getRootType(operation.operation);
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {});
  if (!root || coerced.errors) return 0;
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  return selectionCost({ schema, fragments, variableValues: coerced.coerced, ctx, settings: new Map() }, operation.selectionSet, root, data as Record<string, unknown>);
}
