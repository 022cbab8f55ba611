import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './process.ts';

// The import rules of docs/ARCHITECTURE.md, checked on every file under src/.

const SRC = path.join(ROOT, 'src');

/** Layers from the bottom up; a module may import (values) from its own layer and those below. */
const LAYERS: [layer: string, members: string[]][] = [
  ['rules', ['errors.ts', 'rules/']],
  ['storage', ['config.ts', 'logger.ts', 'metrics.ts', 'periodic-flusher.ts', 'models/', 'db/']],
  ['auth', ['auth/']],
  ['core', ['core/']],
  ['entry', ['schema/', 'redirect/', 'services.ts', 'context.ts']],
  ['http', ['http/', 'yoga.ts']],
  ['process', ['server.ts', 'main.ts', 'cli/']],
];

/** Imports that are refused even between layers that may otherwise meet, types included. */
const FORBIDDEN: { from: string; to: string; why: string }[] = [
  { from: 'rules/', to: '', why: 'pure rules import only other rules and errors.ts' },
  { from: 'schema/', to: 'models/', why: 'resolvers reach data only through src/core' },
  { from: 'schema/', to: 'db/', why: 'resolvers reach data only through src/core' },
  { from: 'schema/', to: 'redirect/', why: 'the schema does not serve redirects' },
  { from: 'core/', to: 'schema/', why: 'use cases know nothing of GraphQL' },
  { from: 'models/', to: 'auth/', why: 'models may use the vocabulary of src/rules only' },
];

function layerOf(file: string): number {
  const index = LAYERS.findIndex(([, members]) => members.some((m) => (m.endsWith('/') ? file.startsWith(m) : file === m)));
  if (index < 0) throw new Error(`${file} belongs to no layer: add it to LAYERS in this test and to docs/ARCHITECTURE.md`);
  return index;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [path.relative(SRC, full).split(path.sep).join('/')] : [];
  });
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Every relative import (static, dynamic and re-export) of every file under src/. */
function edges(): Edge[] {
  const found: Edge[] = [];
  const pattern = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/gm;
  for (const file of sourceFiles(SRC)) {
    const text = fs.readFileSync(path.join(SRC, file), 'utf8');
    for (const match of text.matchAll(pattern)) {
      const specifier = match[3] ?? match[4]!;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      found.push({ from: file, to: target, typeOnly: Boolean(match[2]) });
    }
  }
  return found;
}

describe('architecture: imports point down the layers', () => {
  const all = edges();

  it('finds the imports it checks', () => {
    expect(all.length).toBeGreaterThan(100);
    expect(all.every((edge) => !edge.to.startsWith('..'))).toBe(true);
  });

  it('no value import reaches a higher layer (type-only imports may name the interfaces above, e.g. Services)', () => {
    const upward = all
      .filter((edge) => !edge.typeOnly && layerOf(edge.to) > layerOf(edge.from))
      .map((edge) => `${edge.from} -> ${edge.to} (${LAYERS[layerOf(edge.from)]![0]} -> ${LAYERS[layerOf(edge.to)]![0]})`);
    expect(upward).toEqual([]);
  });

  it('the forbidden imports of docs/ARCHITECTURE.md do not exist, type-only ones included', () => {
    const refused = all.flatMap((edge) =>
      FORBIDDEN.filter(
        (rule) =>
          edge.from.startsWith(rule.from) &&
          (rule.to === '' ? !(edge.to.startsWith('rules/') || edge.to === 'errors.ts') : edge.to.startsWith(rule.to)),
      ).map((rule) => `${edge.from} -> ${edge.to}: ${rule.why}`),
    );
    expect(refused).toEqual([]);
  });

  it('no import cycle between files (type-only imports excluded)', () => {
    const graph = new Map<string, string[]>();
    for (const edge of all.filter((e) => !e.typeOnly)) graph.set(edge.from, [...(graph.get(edge.from) ?? []), edge.to]);
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
