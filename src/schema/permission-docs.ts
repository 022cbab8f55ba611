import { isInterfaceType, isObjectType, type GraphQLField, type GraphQLSchema } from 'graphql';
import { commonChecks, FOREIGN, permissionsIn, probe, rulesOf, runOnProbe, type Rule, type ScopeMap } from './rule-probes.ts';

/**
 * The "Requires …" sentence that ends every field description, so that GraphiQL's docs show what
 * each field needs. Generated from the field's auth rules (its type's and its own), read as
 * `authorize` reads them: rules of arguments or of the object are run on stand-ins for them, with
 * a stand-in key, so the sentence names what any call needs plus what only other users' objects need.
 */

const OWN_USER = '000000000000000000000001';
// A FULL key of OWN_USER; whatever else a rule asks of the context (loaders, memberships) is a stand-in.
const docContext = {
  key: { id: '000000000000000000000002', userId: OWN_USER, grant: { permission: 'FULL', scopes: [], workspaces: [] } },
  loaders: probe(FOREIGN, undefined, true),
  memberships: probe(FOREIGN, undefined, true),
};
const someArgs = probe(FOREIGN);

async function ruleMaps(rule: Rule, kind: 'type' | 'field'): Promise<{ always: ScopeMap; sometimes: ScopeMap }> {
  if (typeof rule !== 'function') return { always: typeof rule === 'boolean' ? {} : rule, sometimes: {} };
  const own = await runOnProbe(rule, kind, OWN_USER, someArgs, docContext);
  const other = await runOnProbe(rule, kind, FOREIGN, someArgs, docContext);
  const maps = [own.map, other.map].filter((map) => map !== null);
  if (maps.length === 0) return { always: {}, sometimes: {} };
  const always = maps.length === 2 ? commonChecks(maps[0]!, maps[1]!) : maps[0]!;
  return { always, sometimes: Object.assign({}, ...maps) };
}

const list = (names: string[]) => (names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`);

export async function permissionSentence(parentType: Parameters<typeof rulesOf>[0], field: GraphQLField<unknown, unknown>): Promise<string> {
  const { typeRules, fieldRule } = rulesOf(parentType, field);
  const rules: [Rule, 'type' | 'field'][] = typeRules.map(({ rule }) => [rule, 'type']);
  if (fieldRule !== undefined) rules.push([fieldRule, 'field']);
  const always = new Set<string>();
  const sometimes = new Set<string>();
  for (const [rule, kind] of rules) {
    const maps = await ruleMaps(rule, kind);
    for (const permission of permissionsIn(maps.always)) always.add(permission);
    for (const permission of permissionsIn(maps.sometimes)) if (!always.has(permission)) sometimes.add(permission);
  }
  const sure = [...always].sort();
  const maybe = [...sometimes].filter((p) => !always.has(p)).sort();
  if (sure.length === 0 && maybe.length === 0) return 'Requires no permission.';
  const except = `${list(maybe)} except on the calling key's own user or key`;
  if (sure.length === 0) return `Requires ${except}.`;
  return maybe.length > 0 ? `Requires ${list(sure)}, and ${except}.` : `Requires ${list(sure)}.`;
}

/** Appends the sentence to every field description of the schema's object and interface types. */
export async function addPermissionSentences(schema: GraphQLSchema): Promise<void> {
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields())) {
      const sentence = await permissionSentence(type, field);
      field.description = field.description ? `${field.description.trimEnd()} ${sentence}` : sentence;
    }
  }
}
