// What the build benchmarks share: our side of a cold build to a verified tree, and turning each
// build's stage-end events into stacked bars and into a per-stage breakdown (median of each stage
// over the runs), which is where a gap shows.
import path from 'node:path';
import type { Side } from '../lib/bench.ts';
import { cliBuild, type StageTime } from '../lib/cli-build.ts';
import { BENCH_CACHE } from '../lib/paths.ts';
import { removeTree } from '../lib/proc.ts';
import { median } from '../lib/stats.ts';
import type { StackedBar } from '../lib/svg.ts';

export interface BuildExtra {
  stages?: StageTime[];
  outsideStagesMs?: number;
  /** Anchor parts (mmdebstrap, tar|zstd, dpkg-deb) in seconds. */
  parts?: Record<string, number>;
}

/** Our side: `build --stop-after verify --no-cache` of `recipe` into a scratch directory of `work`, removed after each run. */
export function coldVerifiedBuild(label: string, recipe: string, work: string): Side {
  return {
    label,
    role: 'ours',
    unit: 's',
    async run() {
      const out = path.join(work, 'ours');
      const b = await cliBuild({ recipe, out, cacheDir: BENCH_CACHE, noCache: true, stopAfter: 'verify' });
      removeTree(out);
      return {
        value: b.run.wallMs / 1000,
        cpuS: b.run.userS + b.run.sysS,
        extra: { stages: b.stages, outsideStagesMs: b.outsideStagesMs, maxRssKiB: b.run.maxRssKiB },
      };
    },
  };
}

/** One bar per run: ours split into its stages (plus the time outside them), anchors as parts. */
export function buildBars(label: string, extras: Record<string, unknown>[], totals: number[]): StackedBar[] {
  return extras.map((raw, i) => {
    const e = raw as BuildExtra;
    const name = `${label} #${i + 1}`;
    if (e.stages) {
      return {
        label: name,
        segments: [
          { name: 'start-up + recipe/mirror checks', value: (e.outsideStagesMs ?? 0) / 1000 },
          ...e.stages.map((s) => ({ name: `${s.stage}${s.outcome === 'cached' ? ' (cached)' : ''}`, value: s.ms / 1000 })),
        ],
      };
    }
    if (e.parts) return { label: name, segments: Object.entries(e.parts).map(([k, v]) => ({ name: k, value: v })) };
    return { label: name, segments: [{ name: label, value: totals[i] ?? 0 }] };
  });
}

/** "bootstrap 61.2 s, overlays 3.1 s, ..." medians over the runs. */
export function stageMedians(extras: Record<string, unknown>[]): Record<string, number> {
  const by = new Map<string, number[]>();
  for (const raw of extras) {
    const e = raw as BuildExtra;
    if (e.outsideStagesMs !== undefined) by.set('outside stages', [...(by.get('outside stages') ?? []), e.outsideStagesMs / 1000]);
    for (const s of e.stages ?? []) by.set(s.stage, [...(by.get(s.stage) ?? []), s.ms / 1000]);
    for (const [k, v] of Object.entries(e.parts ?? {})) by.set(k, [...(by.get(k) ?? []), v]);
  }
  return Object.fromEntries([...by].map(([k, v]) => [k, Math.round(median(v) * 100) / 100]));
}

export function describeMedians(m: Record<string, number>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
    .join(', ');
}
