// build-cold: a cold build of recipes/default.ts up to a verified root filesystem
// (`build --stop-after verify --no-cache`) against plain mmdebstrap given the same suite, variant,
// packages and sources (updates, security, extra repositories), into a fresh directory; and, for
// reference, plain debootstrap, which reads one mirror and so gets the suite alone. Three rounds,
// alternating. Target: at most 1.15 × mmdebstrap. Reads the recipe's suite, variant, packages,
// and resolved sources.
import path from 'node:path';
import { alternate, medianOf, ratioHeadline, type Benchmark, type Side } from '../lib/bench.ts';
import { DEFAULT_RECIPE, mmdebstrapAnchorArgs, resolved } from '../lib/fixtures.ts';
import { freshDir, REPO } from '../lib/paths.ts';
import { removeTree, runTimedOk } from '../lib/proc.ts';
import { stackedBarChart } from '../lib/svg.ts';
import { buildBars, coldVerifiedBuild, describeMedians, stageMedians } from './build-common.ts';

export const buildCold: Benchmark = {
  name: 'build-cold',
  title: 'Cold build to a verified rootfs',
  anchor: 'plain mmdebstrap (and plain debootstrap) with the same packages',
  async run(ctx) {
    const file = process.env.EB_BENCH_RECIPE ?? DEFAULT_RECIPE;
    const r = await resolved(ctx, file);
    const rounds = ctx.runs(3);
    const work = freshDir('build-cold');
    const include = `--include=${r.packages.join(',')}`;
    const sides: Side[] = [
      coldVerifiedBuild('ephemeral-builder', file, work),
      ...(['mmdebstrap', 'debootstrap'] as const).map(
        (tool): Side => ({
          label: tool,
          role: 'anchor',
          unit: 's',
          async run() {
            const dir = path.join(work, tool);
            removeTree(dir);
            const args =
              tool === 'mmdebstrap' ? mmdebstrapAnchorArgs(r, dir, path.join(work, 'keys')) : [`--variant=${r.variant}`, include, r.suite, dir, r.mirror];
            const t = await runTimedOk(tool, args);
            removeTree(dir);
            return { value: t.wallMs / 1000, cpuS: t.userS + t.sysS, extra: { maxRssKiB: t.maxRssKiB } };
          },
        }),
      ),
    ];
    const { series, extras } = await alternate(sides, { rounds, log: ctx.log, name: 'build-cold' });
    const ours = medianOf(series, 'ephemeral-builder');
    const mm = medianOf(series, 'mmdebstrap');
    const deb = medianOf(series, 'debootstrap');
    const bars = sides.flatMap((s) => buildBars(s.label, extras[s.label] ?? [], series.find((x) => x.label === s.label)?.samples ?? []));
    const chart = ctx.writeChart('build-cold', stackedBarChart(`Cold build to a verified rootfs (${path.relative(REPO, file)}), per run`, 'seconds', bars));
    const stages = stageMedians(extras['ephemeral-builder'] ?? []);
    const overhead = ours - (stages.bootstrap ?? 0);
    return {
      runs: rounds,
      headlines: [
        ratioHeadline('cold build to verified rootfs vs mmdebstrap', 's', ours, mm, 1.15, '≤ 1.15×'),
        { ...ratioHeadline('cold build to verified rootfs vs debootstrap', 's', ours, deb, Infinity, 'report'), status: 'INFO' },
      ],
      series,
      notes: [
        `Recipe ${path.relative(REPO, file)}: ${r.suite}, ${r.variant}, packages ${r.packages.join(' ')}; sources ${r.aptSources.map((s) => `${s.dist} (${s.uri})`).join(', ')}. Anchors: \`mmdebstrap ${mmdebstrapAnchorArgs(
          r,
          'DIR',
          path.join(work, 'keys'),
        )
          .map((a) => (a.includes(' ') ? `"${a}"` : a))
          .join(
            ' ',
          )}\`, and \`debootstrap --variant=${r.variant} ${include} ${r.suite} DIR ${r.mirror}\` (one mirror: the suite alone, so it installs fewer updates).`,
        `Our stages (median): ${describeMedians(stages)}. Our bootstrap stage runs the same mmdebstrap; the rest (${overhead.toFixed(1)} s at the median) is start-up, the mirror checks, overlays and verify.`,
        'Every run downloads its packages from the mirror (no proxy, no shared apt cache), so network speed shows in every sample; alternating spreads it over both sides.',
      ],
      charts: [chart],
      details: { stageMedians: stages, perRun: extras },
    };
  },
};
