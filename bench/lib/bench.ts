// The shape of a benchmark and the alternating runner they all use: each round runs every side
// once, in a fixed order (ours, anchor, ours, anchor...), so that whatever else the machine is
// doing at the time hits both sides alike. Optional warm-up rounds run first and are not counted.
import fs from 'node:fs';
import path from 'node:path';
import { load1 } from './machine.ts';
import type { BenchResult, Headline, Series, Status, Unit } from './results.ts';
import { summarize } from './stats.ts';

export interface BenchContext {
  /** Timed runs per side; the benchmark's default unless `--runs` was given. */
  runs(defaultRuns: number): number;
  log(line: string): void;
  /** Writes an SVG next to the results, returns its file name (relative to the results). */
  writeChart(name: string, svg: string): string;
  /** Long-lived things shared between benchmarks of one invocation (trees, builds). */
  shared: Map<string, unknown>;
}

export type BenchOutput = Pick<BenchResult, 'runs' | 'headlines' | 'series' | 'notes' | 'charts'> & { details?: Record<string, unknown> };

export interface Benchmark {
  name: string;
  title: string;
  anchor: string;
  run(ctx: BenchContext): Promise<BenchOutput>;
}

export interface Sample {
  /** In the series' unit. */
  value: number;
  cpuS?: number;
  /** Anything else worth keeping per sample (stage times, memory...). */
  extra?: Record<string, unknown>;
}

export interface Side {
  label: string;
  role: Series['role'];
  unit: Unit;
  /** One measured run. Setup and cleanup that must not be timed go in before/after. */
  run(round: number): Promise<Sample>;
  before?(round: number): Promise<void>;
  after?(round: number): Promise<void>;
  /** Fewer timed runs than the others (e.g. a cold build next to quick rebuilds). */
  rounds?: number;
}

export interface Alternated {
  series: Series[];
  /** Per side label: the extras of every timed sample, in order. */
  extras: Record<string, Record<string, unknown>[]>;
}

export async function alternate(sides: Side[], o: { rounds: number; warmup?: number; log: (l: string) => void; name: string }): Promise<Alternated> {
  const samples = new Map<string, { values: number[]; loads: number[]; cpu: number[]; extras: Record<string, unknown>[] }>();
  for (const s of sides) samples.set(s.label, { values: [], loads: [], cpu: [], extras: [] });
  const warmup = o.warmup ?? 0;
  for (let round = 0; round < warmup + o.rounds; round++) {
    const counted = round >= warmup;
    for (const side of sides) {
      if (counted && side.rounds !== undefined && round - warmup >= side.rounds) continue;
      await side.before?.(round);
      const load = load1();
      const t0 = performance.now();
      let sample: Sample;
      try {
        sample = await side.run(round);
      } finally {
        await side.after?.(round);
      }
      const tag = counted ? `round ${round - warmup + 1}/${side.rounds ?? o.rounds}` : `warm-up ${round + 1}/${warmup}`;
      o.log(
        `${o.name}: ${tag} ${side.label}: ${sample.value.toFixed(side.unit === 'ms' ? 1 : 2)} ${side.unit} (load ${load}, ${((performance.now() - t0) / 1000).toFixed(1)} s with setup)`,
      );
      if (!counted) continue;
      const acc = samples.get(side.label);
      if (!acc) continue;
      acc.values.push(sample.value);
      acc.loads.push(load);
      if (sample.cpuS !== undefined) acc.cpu.push(sample.cpuS);
      acc.extras.push(sample.extra ?? {});
    }
  }
  const series: Series[] = [];
  const extras: Alternated['extras'] = {};
  for (const side of sides) {
    const acc = samples.get(side.label);
    if (!acc) continue;
    series.push({
      label: side.label,
      role: side.role,
      unit: side.unit,
      samples: acc.values,
      summary: summarize(acc.values),
      loads: acc.loads,
      ...(acc.cpu.length ? { cpuS: acc.cpu } : {}),
    });
    extras[side.label] = acc.extras;
  }
  return { series, extras };
}

/** A series from samples gathered some other way (connections, sizes). */
export function seriesOf(label: string, role: Series['role'], unit: Unit, samples: number[], loads?: number[]): Series {
  return { label, role, unit, samples, summary: summarize(samples), ...(loads ? { loads } : {}) };
}

/** The headline of "ours must be at most `limit` × the anchor". */
export function ratioHeadline(metric: string, unit: Unit, ours: number, anchor: number, limit: number, target: string): Headline {
  const r = ours / anchor;
  const status: Status = Number.isFinite(r) ? (r <= limit ? 'PASS' : 'MISS') : 'FAILED';
  return { metric, unit, ours, anchor, ratio: r, target, status };
}

/** The headline of "ours must be below an absolute limit" (ratio = ours / limit). */
export function limitHeadline(metric: string, unit: Unit, ours: number, limit: number, target: string): Headline {
  const r = ours / limit;
  return { metric, unit, ours, ratio: r, target, status: Number.isFinite(r) ? (ours < limit ? 'PASS' : 'MISS') : 'FAILED' };
}

export function medianOf(series: Series[], label: string): number {
  return series.find((s) => s.label === label)?.summary.median ?? Number.NaN;
}

export function ensureDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export function sizeOf(file: string): number {
  return fs.statSync(file).size;
}

/** du -sb equivalent without following links: apparent bytes of every regular file. */
export function treeBytes(dir: string): number {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop() as string;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += fs.lstatSync(p).size;
    }
  }
  return total;
}
