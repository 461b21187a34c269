// rebuild-overlay: a rebuild to a verified rootfs after a change to one overlay only, with the
// cache warm, against a cold build (--no-cache) of the same recipe in the same run. The recipe is
// a bench variant of recipes/default.ts with one extra overlay whose file changes before every
// rebuild, so the bootstrap is a cache hit and every later stage really runs.
// Target: at most 10 % of the cold build.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { alternate, medianOf, ratioHeadline, type Benchmark, type Side } from '../lib/bench.ts';
import { cliBuild } from '../lib/cli-build.ts';
import { DEFAULT_OVERLAYS, DEFAULT_RECIPE, variantRecipe } from '../lib/fixtures.ts';
import { BENCH_CACHE, freshDir, REPO, WORK } from '../lib/paths.ts';
import { removeTree } from '../lib/proc.ts';
import { stackedBarChart } from '../lib/svg.ts';
import { buildBars, describeMedians, stageMedians, type BuildExtra } from './build-common.ts';

export const rebuildOverlay: Benchmark = {
  name: 'rebuild-overlay',
  title: 'Rebuild after an overlay-only change (cache warm)',
  anchor: 'a cold build (--no-cache) of the same recipe',
  async run(ctx) {
    const base = process.env.EB_BENCH_RECIPE ?? DEFAULT_RECIPE;
    const overlayDir = path.join(WORK, 'recipes', 'bench-overlay');
    const marker = path.join(overlayDir, 'files/etc/eb-bench-overlay');
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    const change = () => fs.writeFileSync(marker, `changed ${crypto.randomUUID()}\n`);
    change();
    const overlays = [...DEFAULT_OVERLAYS.filter((o) => o !== 'hygiene'), overlayDir, 'hygiene'];
    const file = variantRecipe('rebuild-overlay', base, { overlays });
    const work = freshDir('rebuild-overlay');
    const out = path.join(work, 'out');

    ctx.log('rebuild-overlay: priming the cache (untimed)');
    const prime = await cliBuild({ recipe: file, out, cacheDir: BENCH_CACHE, stopAfter: 'verify' });
    removeTree(out);
    ctx.log(`rebuild-overlay: primed: ${prime.stages.map((s) => `${s.stage} ${s.outcome} ${(s.ms / 1000).toFixed(1)} s`).join(', ')}`);

    const rebuildRounds = ctx.runs(5);
    const coldRounds = Math.min(ctx.runs(3), rebuildRounds);
    const sides: Side[] = [
      {
        label: 'rebuild (overlay changed)',
        role: 'ours',
        unit: 's',
        rounds: rebuildRounds,
        async before() {
          change();
        },
        async run() {
          const b = await cliBuild({ recipe: file, out, cacheDir: BENCH_CACHE, stopAfter: 'verify' });
          removeTree(out);
          return { value: b.run.wallMs / 1000, cpuS: b.run.userS + b.run.sysS, extra: { stages: b.stages, outsideStagesMs: b.outsideStagesMs } };
        },
      },
      {
        label: 'cold build',
        role: 'anchor',
        unit: 's',
        rounds: coldRounds,
        async run() {
          const b = await cliBuild({ recipe: file, out, cacheDir: BENCH_CACHE, stopAfter: 'verify', noCache: true });
          removeTree(out);
          return { value: b.run.wallMs / 1000, cpuS: b.run.userS + b.run.sysS, extra: { stages: b.stages, outsideStagesMs: b.outsideStagesMs } };
        },
      },
    ];
    const { series, extras } = await alternate(sides, { rounds: rebuildRounds, log: ctx.log, name: 'rebuild-overlay' });
    const rebuild = medianOf(series, 'rebuild (overlay changed)');
    const cold = medianOf(series, 'cold build');
    const rebuildExtras = extras['rebuild (overlay changed)'] ?? [];
    const notCached = rebuildExtras.filter((e) => !(e as BuildExtra).stages?.some((s) => s.stage === 'bootstrap' && s.outcome === 'cached')).length;
    const bars = sides.flatMap((s) => buildBars(s.label, extras[s.label] ?? [], series.find((x) => x.label === s.label)?.samples ?? []));
    const chart = ctx.writeChart('rebuild-overlay', stackedBarChart('Rebuild after an overlay change vs cold build, per run', 'seconds', bars));
    const rebuildStages = stageMedians(rebuildExtras);
    return {
      runs: rebuildRounds,
      headlines: [ratioHeadline('overlay-only rebuild vs cold build', 's', rebuild, cold, 0.1, '≤ 0.10× (10 %)')],
      series,
      notes: [
        `Recipe: ${path.relative(REPO, base)} plus one bench overlay (${path.relative(WORK, overlayDir)}) before hygiene; its file gets new content before every rebuild. Both sides build to \`--stop-after verify\`.`,
        `Rebuild stages (median): ${describeMedians(rebuildStages)}. Cold stages (median): ${describeMedians(stageMedians(extras['cold build'] ?? []))}.`,
        notCached
          ? `WARNING: ${notCached} rebuild(s) did not restore the bootstrap from the cache.`
          : 'Every rebuild restored the bootstrap from the cache (stage outcome "cached").',
      ],
      charts: [chart],
      details: { rebuildStageMedians: rebuildStages, perRun: extras },
    };
  },
};
