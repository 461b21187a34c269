// pack: our tarball writer (pipeline/pack/tarball.ts: tree scan, GNU tar headers, zstd child process)
// against `tar --sort=name --numeric-owner -cf - -C TREE . | zstd -T0 -LEVEL` on the same verified
// tree of recipes/default.ts, at the recipe's tarball level and at the --fast level. Both run as a
// process of their own; five rounds each, alternating, after one untimed read of the tree so that
// both sides find it in the page cache. Target: at most 1.2 ×; peak memory reported
// (under 200 MB whatever the image size).
import os from 'node:os';
import path from 'node:path';
import { FAST_TARBALL_LEVEL, TARBALL_LONG } from '../../pipeline/stages/pack.ts';
import { alternate, limitHeadline, medianOf, ratioHeadline, sizeOf, type Benchmark, type Side } from '../lib/bench.ts';
import { CLI_NODE_FLAGS } from '../lib/cli-build.ts';
import { DEFAULT_RECIPE, verifiedTree } from '../lib/fixtures.ts';
import { freshDir, REPO } from '../lib/paths.ts';
import { runTimedOk, shTimed, type TreeMemory } from '../lib/proc.ts';
import type { Headline, Series } from '../lib/results.ts';
import { summarize } from '../lib/stats.ts';

const WORKER = path.join(import.meta.dirname, '../lib/workers/tarball.ts');

export const pack: Benchmark = {
  name: 'pack',
  title: 'Tarball writer (tar + zstd) on a verified tree',
  anchor: 'tar --sort=name --numeric-owner -cf - | zstd -T0 -LEVEL on the same tree',
  async run(ctx) {
    const file = process.env.EB_BENCH_RECIPE ?? DEFAULT_RECIPE;
    const { recipe: r, rootfs } = await verifiedTree(ctx, file);
    const work = freshDir('pack');
    const rounds = ctx.runs(5);
    ctx.log('pack: reading the tree once (untimed) so both sides start from the page cache');
    await shTimed(`tar -cf - -C '${rootfs}' . | cat > /dev/null`);
    const levels = [...new Set([r.compression.tarballLevel, FAST_TARBALL_LEVEL])];
    const series: Series[] = [];
    const headlines: Headline[] = [];
    const notes: string[] = [];
    const details: Record<string, unknown> = {};
    for (const level of levels) {
      const oursOut = path.join(work, `ours-${level}.tar.zst`);
      const anchorOut = path.join(work, `anchor-${level}.tar.zst`);
      const isRecipeLevel = level === r.compression.tarballLevel;
      // Both sides with the long-distance matching the pack stage uses (not with --fast).
      const useLong = TARBALL_LONG && isRecipeLevel;
      const long = useLong ? ' --long=27' : '';
      const oursLabel = `ours, zstd -${level}${long}`;
      const anchorLabel = `tar | zstd -${level}${long}`;
      const sides: Side[] = [
        {
          label: oursLabel,
          role: 'ours',
          unit: 's',
          async run() {
            const t = await runTimedOk(
              process.execPath,
              [...CLI_NODE_FLAGS, WORKER, rootfs, oursOut, String(level), String(r.sourceDateEpoch), ...(useLong ? ['long'] : [])],
              { sampleMs: 200 },
            );
            const inProcessS = (JSON.parse(t.stdout.trim().split('\n').pop() ?? '{}') as { ms?: number }).ms ?? NaN;
            return {
              value: t.wallMs / 1000,
              cpuS: t.userS + t.sysS,
              extra: { bytes: sizeOf(oursOut), memory: t.memory, maxRssKiB: t.maxRssKiB, inProcessS: inProcessS / 1000 },
            };
          },
        },
        {
          label: anchorLabel,
          role: 'anchor',
          unit: 's',
          async run() {
            const t = await shTimed(`tar --sort=name --numeric-owner -cf - -C '${rootfs}' . | zstd -q -T0 -${level}${long} > '${anchorOut}'`, {
              sampleMs: 200,
            });
            return { value: t.wallMs / 1000, cpuS: t.userS + t.sysS, extra: { bytes: sizeOf(anchorOut), memory: t.memory, maxRssKiB: t.maxRssKiB } };
          },
        },
      ];
      const res = await alternate(sides, { rounds, log: ctx.log, name: `pack -${level}` });
      series.push(...res.series);
      const ours = medianOf(res.series, oursLabel);
      const anchor = medianOf(res.series, anchorLabel);
      headlines.push(
        ratioHeadline(
          `tarball at zstd -${level}${long}${isRecipeLevel ? ' (recipe level)' : ' (--fast)'}, whole worker process`,
          's',
          ours,
          anchor,
          1.2,
          '≤ 1.2×',
        ),
      );
      const oursExtras = res.extras[oursLabel] ?? [];
      const nodePeak = (Math.max(...oursExtras.map((e) => (e.memory as TreeMemory | undefined)?.hwmByCommKiB.node ?? NaN)) * 1024) / 1e6;
      const treePeak = (Math.max(...oursExtras.map((e) => (e.memory as TreeMemory | undefined)?.peakTreeRssKiB ?? NaN)) * 1024) / 1e6;
      const anchorPeak = (Math.max(...(res.extras[anchorLabel] ?? []).map((e) => (e.memory as TreeMemory | undefined)?.peakTreeRssKiB ?? NaN)) * 1024) / 1e6;
      if (isRecipeLevel) {
        headlines.push(limitHeadline(`peak RSS of our writer (node process), zstd -${level}`, 'MB', nodePeak, 200, '< 200 MB'));
        ctx.shared.set('pack:ours-tarball', { file: oursOut, level, rootfs, long: useLong });
      }
      const cpuOurs = summarize(res.series.find((s) => s.label === oursLabel)?.cpuS ?? []).median;
      const cpuAnchor = summarize(res.series.find((s) => s.label === anchorLabel)?.cpuS ?? []).median;
      // The stage's own time: the worker's process also loads the TypeScript modules (about
      // 0.3 s here), which a build pays once at start-up, not in its pack stage.
      const inProcess = summarize(oursExtras.map((e) => Number(e.inProcessS))).median;
      headlines.push(
        ratioHeadline(
          `pack stage's own time (packTarball in the worker, without node's start-up) at zstd -${level}${long}`,
          's',
          inProcess,
          anchor,
          1.2,
          '≤ 1.2×',
        ),
      );
      notes.push(
        `zstd -${level}${long}: sizes ours ${sizeOf(oursOut).toLocaleString('en-US')} B, anchor ${sizeOf(anchorOut).toLocaleString('en-US')} B; CPU s (median) ours ${cpuOurs.toFixed(1)}, anchor ${cpuAnchor.toFixed(1)}; peak RSS ours: node ${nodePeak.toFixed(0)} MB, whole tree ${treePeak.toFixed(0)} MB (anchor tree ${anchorPeak.toFixed(0)} MB).`,
      );
      details[`level${level}`] = res.extras;
    }
    notes.unshift(
      `Tree: the verified rootfs of ${path.relative(REPO, file)} (${rootfs}). Ours: packTarball(tree) in a node process (scan, bytewise sort, GNU tar headers (tar-header.ts) with numeric owners and empty names, clamped mtimes, zstd -T${Math.max(2, os.availableParallelism())} child). Anchor: GNU tar | zstd -T0.`,
    );
    return { runs: rounds, headlines, series, notes, charts: [], details };
  },
};
