// Timing against a baseline taken in the same rounds: A and B alternate (A B, B A, A B…) so that
// drift (other processes, GC, a warming cache) hits both alike; the figures are medians of rounds.

export type Op = () => unknown | Promise<unknown>;

export interface Comparison {
  /** Median time of one subject operation, in ms. */
  subjectMs: number;
  /** Median time of one baseline operation, in ms. */
  baselineMs: number;
  /** Median over rounds of subject / baseline. */
  ratio: number;
  rounds: number;
}

export interface CompareOptions {
  /** Rounds to run when time allows. */
  rounds: number;
  /** Stop after this many ms even below `rounds` (at least one round always runs). */
  budgetMs: number;
  /** Each side of a round repeats its operation for about this long (cheap operations run in batches). */
  sliceMs?: number;
  maxBatch?: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timeBatch(op: Op, count: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) await op();
  return (performance.now() - start) / count;
}

/** Warms both up, then alternates them; an operation slower than a second counts its warm-up as round one. */
export async function compare(baseline: Op, subject: Op, options: CompareOptions): Promise<Comparison> {
  const started = performance.now();
  const sliceMs = options.sliceMs ?? 25;
  const maxBatch = options.maxBatch ?? 10_000;
  const baselines: number[] = [];
  const subjects: number[] = [];
  const ratios: number[] = [];
  const record = (a: number, b: number) => {
    baselines.push(a);
    subjects.push(b);
    ratios.push(b / a);
  };

  let a = await timeBatch(baseline, 1);
  let b = await timeBatch(subject, 1);
  if (b > 1000) record(a, b);
  else {
    // A few more warm-up runs for the JIT and caches, bounded to about 200 ms each.
    a = await timeBatch(baseline, Math.max(1, Math.min(maxBatch, Math.floor(200 / Math.max(a, 0.001)), 200)));
    b = await timeBatch(subject, Math.max(1, Math.min(maxBatch, Math.floor(200 / Math.max(b, 0.001)), 200)));
  }
  const batchOf = (ms: number) => Math.max(1, Math.min(maxBatch, Math.round(sliceMs / Math.max(ms, 0.0005))));
  const batchA = batchOf(a);
  const batchB = batchOf(b);

  for (let round = ratios.length; round < options.rounds; round++) {
    if (round > 0 && performance.now() - started > options.budgetMs) break;
    if (round % 2 === 0) {
      const ta = await timeBatch(baseline, batchA);
      record(ta, await timeBatch(subject, batchB));
    } else {
      const tb = await timeBatch(subject, batchB);
      record(await timeBatch(baseline, batchA), tb);
    }
  }
  return { subjectMs: median(subjects), baselineMs: median(baselines), ratio: median(ratios), rounds: ratios.length };
}

export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toPrecision(3).replace(/\.0+$/, '')} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function formatRatio(ratio: number): string {
  return `${ratio < 10 ? ratio.toFixed(2) : ratio < 100 ? ratio.toFixed(1) : ratio.toFixed(0)}×`;
}

export function formatCount(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** A markdown table with padded columns (readable as text, pasteable as markdown). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
