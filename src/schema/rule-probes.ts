import { AuthScopeFailureType, type AuthFailure } from '@pothos/plugin-scope-auth';
import type { GraphQLField, GraphQLNamedType } from 'graphql';
import { requiredPermission } from './auth-scopes.ts';

/**
 * Reading the schema's own auth rules (the `authScopes` of @pothos/plugin-scope-auth, kept in the
 * built schema's extensions) without executing anything: for `Query.authorize` and for the
 * "Requires …" sentence of every field description. Rules that look at the object a field is on
 * are run on stand-ins for it ("probes"), since that object is only known while executing.
 */

export type ScopeMap = Record<string, unknown>;
export type RuleResult = ScopeMap | boolean;
type TypeRule = (parent: unknown, ctx: unknown) => RuleResult | Promise<RuleResult>;
type FieldRule = (parent: unknown, args: unknown, ctx: unknown, info: unknown) => RuleResult | Promise<RuleResult>;
export type Rule = RuleResult | TypeRule | FieldRule;

interface PothosExtensions {
  pothosOptions?: { authScopes?: Rule; skipTypeScopes?: boolean; skipInterfaceScopes?: boolean };
}

/** The rules the executor checks before a field of `parentType` resolves: the type's, its interfaces', then the field's own. */
export function rulesOf(
  parentType: GraphQLNamedType & { getInterfaces?: () => readonly GraphQLNamedType[] },
  field: GraphQLField<unknown, unknown>,
): { typeRules: { owner: string; rule: Rule }[]; fieldRule: Rule | undefined } {
  const fieldOptions = (field.extensions as PothosExtensions).pothosOptions ?? {};
  const typeRules: { owner: string; rule: Rule }[] = [];
  const own = (parentType.extensions as PothosExtensions).pothosOptions;
  if (own?.authScopes !== undefined && !fieldOptions.skipTypeScopes) typeRules.push({ owner: parentType.name, rule: own.authScopes });
  if (!fieldOptions.skipInterfaceScopes && !own?.skipInterfaceScopes) {
    for (const iface of parentType.getInterfaces?.() ?? []) {
      const rule = (iface.extensions as PothosExtensions).pothosOptions?.authScopes;
      if (rule !== undefined) typeRules.push({ owner: iface.name, rule });
    }
  }
  return { typeRules, fieldRule: fieldOptions.authScopes };
}

/**
 * A stand-in for an unknown object: every property is another stand-in, and as a string it is
 * `value`. With `value` = the calling user's id it plays the caller's own object (own user, own
 * key); with a value no id can have, someone else's.
 */
export function probe(value: string, onRead: () => void = () => {}, callable = false): unknown {
  const stringify = () => value;
  // Callable only where a rule calls it (a stand-in context's loaders): Buffer.from refuses functions.
  return new Proxy(callable ? () => {} : {}, {
    get(_target, property) {
      if (property === Symbol.toPrimitive || property === 'toString' || property === 'valueOf' || property === 'toJSON') return stringify;
      // Not a promise, not iterable: `await` and spreads see a plain object.
      if (typeof property === 'symbol' || property === 'then') return undefined;
      onRead();
      // Read as a string (an id argument is parsed like one).
      if (property === 'length') return value.length;
      const method = (String.prototype as unknown as Record<string, unknown>)[property];
      if (typeof method === 'function') return (...args: unknown[]) => (method as (...a: unknown[]) => unknown).apply(value, args);
      return probe(value, onRead, callable);
    },
    apply: () => probe(value, onRead, callable),
  });
}

export const FOREIGN = 'probe:someone-else';

export interface ProbeOutcome {
  /** The rule's scope map, without the checks about the object itself; null when the rule failed on the stand-in. */
  map: ScopeMap | null;
  /** Whether the rule looked at the object at all. */
  readParent: boolean;
}

/** Runs a rule on a stand-in parent whose ids read as `value`. */
export async function runOnProbe(rule: TypeRule | FieldRule, kind: 'type' | 'field', value: string, args: unknown, ctx: unknown): Promise<ProbeOutcome> {
  let readParent = false;
  const parent = probe(value, () => {
    readParent = true;
  });
  try {
    const result = await (kind === 'type' ? (rule as TypeRule)(parent, ctx) : (rule as FieldRule)(parent, args, ctx, null));
    // `false` on a stand-in means the object would not be visible: such objects are never handed out.
    return { map: typeof result === 'boolean' ? {} : withoutObjectChecks(result, value), readParent };
  } catch {
    return { map: null, readParent: true };
  }
}

/**
 * Drops the checks about the object itself (its workspace is visible, the role there): they
 * depend on data, and an object the key may not see reads as missing, never as FORBIDDEN.
 */
function withoutObjectChecks(map: ScopeMap, value: string): ScopeMap {
  const kept: ScopeMap = {};
  for (const [name, parameter] of Object.entries(map)) {
    if (name === '$all' || name === '$any') kept[name] = withoutObjectChecks(parameter as ScopeMap, value);
    else if (!(JSON.stringify(parameter ?? null) ?? '').includes(value)) kept[name] = parameter;
  }
  return kept;
}

const entryKey = (name: string, parameter: unknown) => `${name}=${JSON.stringify(parameter ?? null)}`;

/** The checks two maps share (top level; nested `$any`/`$all` only when identical). */
export function commonChecks(a: ScopeMap, b: ScopeMap): ScopeMap {
  const other = new Set(Object.entries(b).map(([name, parameter]) => entryKey(name, parameter)));
  return Object.fromEntries(Object.entries(a).filter(([name, parameter]) => other.has(entryKey(name, parameter))));
}

/** The permission names (`links:read`) a scope map checks, through the same mapping FORBIDDEN errors use. */
export function permissionsIn(map: RuleResult): string[] {
  if (typeof map === 'boolean') return [];
  return Object.entries(map).flatMap(([name, parameter]) => {
    if (name === '$all' || name === '$any') return permissionsIn(parameter as ScopeMap);
    const failure: AuthFailure = { kind: AuthScopeFailureType.AuthScope, scope: name, parameter, error: null };
    const permission = requiredPermission(failure);
    return permission ? [permission] : [];
  });
}
