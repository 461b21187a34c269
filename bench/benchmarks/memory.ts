// memory: peak memory of a full cold build (`build --no-cache`, every artifact) of two image sizes,
// recipes/minimal.ts and recipes/default.ts. The process tree is sampled every 0.2 s: the sum of
// every process's RSS at one tick (node, mmdebstrap's apt and dpkg, nspawn, xz, zstd...), and each
// program's own high-water mark (VmHWM) — node's is the memory our code holds. GNU time adds the
// largest single process. Targets: < 300 MB and flat as the image grows, and node itself
// under 200 MB whatever the image size.
import fs from 'node:fs';
import path from 'node:path';
import { limitHeadline, seriesOf, type Benchmark } from '../lib/bench.ts';
import { cliBuild } from '../lib/cli-build.ts';
import { DEFAULT_RECIPE, MINIMAL_RECIPE, resolved } from '../lib/fixtures.ts';
import { load1 } from '../lib/machine.ts';
import { BENCH_CACHE, freshDir, REPO } from '../lib/paths.ts';
import { removeTree, type TreeMemory } from '../lib/proc.ts';
import type { Headline, Series } from '../lib/results.ts';
import { summarize } from '../lib/stats.ts';

const MB = (kib: number) => (kib * 1024) / 1e6;

export const memory: Benchmark = {
  name: 'memory',
  title: 'Peak memory of a full cold build, two image sizes',
  anchor: '— (absolute target)',
  async run(ctx) {
    const rounds = ctx.runs(3);
    const work = freshDir('memory');
    const series: Series[] = [];
    const headlines: Headline[] = [];
    const notes: string[] = [];
    const perRecipe: Record<string, unknown> = {};
    const nodePeaks: number[] = [];
    const imageSizes: number[] = [];
    for (const file of [MINIMAL_RECIPE, DEFAULT_RECIPE]) {
      const name = path.basename(file, '.ts');
      await resolved(ctx, file);
      const tree: number[] = [];
      const node: number[] = [];
      const largest: number[] = [];
      const loads: number[] = [];
      const runs: unknown[] = [];
      let imageBytes = 0;
      for (let i = 0; i < rounds; i++) {
        const out = path.join(work, name);
        loads.push(load1());
        const b = await cliBuild({ recipe: file, out, cacheDir: BENCH_CACHE, noCache: true, sampleMs: 200 });
        const m = b.run.memory as TreeMemory;
        tree.push(MB(m.peakTreeRssKiB));
        node.push(MB(m.hwmByCommKiB.node ?? NaN));
        largest.push(MB(b.run.maxRssKiB));
        const manifest = b.result?.artifacts?.manifest;
        if (manifest) {
          const json = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { image?: { sizeBytes?: number } };
          imageBytes = json.image?.sizeBytes ?? imageBytes;
        }
        const top = Object.entries(m.hwmByCommKiB)
          .sort((a, b2) => b2[1] - a[1])
          .slice(0, 6)
          .map(([k, v]) => `${k} ${MB(v).toFixed(0)}`);
        ctx.log(
          `memory: ${name} #${i + 1}: tree peak ${MB(m.peakTreeRssKiB).toFixed(0)} MB, node ${MB(m.hwmByCommKiB.node ?? NaN).toFixed(0)} MB; per program: ${top.join(', ')}`,
        );
        runs.push({
          stages: b.stages,
          hwmByCommMB: Object.fromEntries(Object.entries(m.hwmByCommKiB).map(([k, v]) => [k, Math.round(MB(v))])),
          wallS: b.run.wallMs / 1000,
        });
        removeTree(out);
      }
      series.push(seriesOf(`${name}: whole process tree (sum of RSS)`, 'ours', 'MB', tree, loads));
      series.push(seriesOf(`${name}: node (our code), VmHWM`, 'info', 'MB', node, loads));
      series.push(seriesOf(`${name}: largest single process (GNU time)`, 'info', 'MB', largest, loads));
      const treePeak = Math.max(...tree);
      headlines.push(limitHeadline(`${name}: peak memory of the build (whole process tree)`, 'MB', treePeak, 300, '< 300 MB'));
      // Our own process has a bound of its own, stricter than the whole build's 300 MB: the
      // packer streams the tree, so node must not grow with the image.
      headlines.push(limitHeadline(`${name}: peak memory of our own process (node)`, 'MB', Math.max(...node), 200, '< 200 MB'));
      // Which programs make the whole-tree peak: each one's own high-water mark, the largest run.
      const byProgram = new Map<string, number>();
      for (const run of runs as { hwmByCommMB: Record<string, number> }[]) {
        for (const [comm, mb] of Object.entries(run.hwmByCommMB)) byProgram.set(comm, Math.max(byProgram.get(comm) ?? 0, mb));
      }
      const top = [...byProgram]
        .sort((a, b2) => b2[1] - a[1])
        .slice(0, 5)
        .map(([comm, mb]) => `${comm} ${mb} MB`);
      notes.push(`${name}: the largest programs of the build, each at its own peak: ${top.join(', ')}.`);
      nodePeaks.push(summarize(node).median);
      imageSizes.push(imageBytes);
      perRecipe[name] = { imageBytes, runs };
    }
    const [small = NaN, big = NaN] = nodePeaks;
    const [smallImage = NaN, bigImage = NaN] = imageSizes;
    const growth = big / small;
    headlines.push({
      metric: `growth of node's peak, default vs minimal image (${(bigImage / 1e6).toFixed(0)} vs ${(smallImage / 1e6).toFixed(0)} MB tree, ${(bigImage / smallImage).toFixed(1)}×)`,
      unit: 'MB',
      ours: big,
      anchor: small,
      ratio: growth,
      target: 'flat (≤ 1.25× while the tree grows)',
      status: Number.isFinite(growth) ? (growth <= 1.25 ? 'PASS' : 'MISS') : 'FAILED',
    });
    notes.push(
      `Full cold builds (\`build --no-cache\`, every artifact at the recipe's compression levels) of ${path.relative(REPO, MINIMAL_RECIPE)} and ${path.relative(REPO, DEFAULT_RECIPE)}, ${rounds} run(s) each.`,
    );
    notes.push(
      '"Whole process tree" sums the RSS of every process of the build at each 0.2 s tick (shared pages count once per process, so it over-states); "node" is the high-water mark of the build tool itself.',
    );
    return { runs: rounds, headlines, series, notes, charts: [], details: perRecipe };
  },
};
