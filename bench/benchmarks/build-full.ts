// build-full: a full cold build with every artifact (`build --no-cache`: bootstrap, overlays,
// verify, pack → image .deb, host .deb, .tar.zst, install.sh, manifest, SHA256SUMS) against the
// hand-made equivalent: mmdebstrap, then `tar | zstd` of the tree at the recipe's tarball level,
// then `dpkg-deb -b` of it with the recipe's .deb compressor and level. Three rounds, alternating.
// Target: report the stage breakdown (stacked bar per build).
import fs from 'node:fs';
import path from 'node:path';
import { alternate, medianOf, type Benchmark, type Side } from '../lib/bench.ts';
import { cliBuild } from '../lib/cli-build.ts';
import { makeStaging } from '../lib/debian.ts';
import { DEFAULT_RECIPE, mmdebstrapAnchorArgs, resolved } from '../lib/fixtures.ts';
import { BENCH_CACHE, freshDir, REPO } from '../lib/paths.ts';
import { removeTree, runTimedOk, shTimed } from '../lib/proc.ts';
import { stackedBarChart } from '../lib/svg.ts';
import { buildBars, describeMedians, stageMedians } from './build-common.ts';

export const buildFull: Benchmark = {
  name: 'build-full',
  title: 'Full cold build with all artifacts',
  anchor: 'mmdebstrap + tar | zstd + dpkg-deb -b, summed',
  async run(ctx) {
    const file = process.env.EB_BENCH_RECIPE ?? DEFAULT_RECIPE;
    const r = await resolved(ctx, file);
    const rounds = ctx.runs(3);
    const work = freshDir('build-full');
    const level = r.compression.tarballLevel;
    const debTool = r.compression.deb;
    const debLevel = r.compression.debLevel;
    const sides: Side[] = [
      {
        label: 'ephemeral-builder',
        role: 'ours',
        unit: 's',
        async run() {
          const out = path.join(work, 'ours');
          removeTree(out);
          const b = await cliBuild({ recipe: file, out, cacheDir: BENCH_CACHE, noCache: true, sampleMs: 500 });
          const sizes = Object.fromEntries(fs.readdirSync(out).map((f) => [f, fs.statSync(path.join(out, f)).size]));
          removeTree(out);
          return {
            value: b.run.wallMs / 1000,
            cpuS: b.run.userS + b.run.sysS,
            extra: { stages: b.stages, outsideStagesMs: b.outsideStagesMs, memory: b.run.memory, sizes },
          };
        },
      },
      {
        label: 'mmdebstrap + tar|zstd + dpkg-deb',
        role: 'anchor',
        unit: 's',
        async run() {
          const dir = path.join(work, 'anchor');
          removeTree(dir);
          fs.mkdirSync(dir, { recursive: true });
          const tree = path.join(dir, 'tree');
          const mm = await runTimedOk('mmdebstrap', mmdebstrapAnchorArgs(r, tree, path.join(dir, 'keys')));
          const tar = await shTimed(`tar --sort=name --numeric-owner -cf - -C '${tree}' . | zstd -q -T0 -${level} > '${dir}/image.tar.zst'`);
          // Untimed: moving the tree into a staging directory and writing DEBIAN/control.
          const staging = await makeStaging(path.join(dir, 'staging'), tree, r, 'move');
          const deb = await runTimedOk('dpkg-deb', [`-Z${debTool}`, `-z${debLevel}`, '--root-owner-group', '-b', staging.dir, path.join(dir, 'image.deb')]);
          const sizes = { 'image.tar.zst': fs.statSync(path.join(dir, 'image.tar.zst')).size, 'image.deb': fs.statSync(path.join(dir, 'image.deb')).size };
          removeTree(dir);
          const parts = {
            mmdebstrap: mm.wallMs / 1000,
            [`tar | zstd -${level}`]: tar.wallMs / 1000,
            [`dpkg-deb -Z${debTool} -z${debLevel}`]: deb.wallMs / 1000,
          };
          const cpu = [mm, tar, deb].reduce((a, t) => a + t.userS + t.sysS, 0);
          return { value: Object.values(parts).reduce((a, b) => a + b, 0), cpuS: cpu, extra: { parts, sizes } };
        },
      },
    ];
    const { series, extras } = await alternate(sides, { rounds, log: ctx.log, name: 'build-full' });
    const ours = medianOf(series, 'ephemeral-builder');
    const anchor = medianOf(series, 'mmdebstrap + tar|zstd + dpkg-deb');
    const bars = sides.flatMap((s) => buildBars(s.label, extras[s.label] ?? [], series.find((x) => x.label === s.label)?.samples ?? []));
    const chart = ctx.writeChart(
      'build-full',
      stackedBarChart(`Full cold build with all artifacts (${path.relative(REPO, file)}): stages per run`, 'seconds', bars),
    );
    const oursStages = stageMedians(extras['ephemeral-builder'] ?? []);
    const anchorParts = stageMedians(extras['mmdebstrap + tar|zstd + dpkg-deb'] ?? []);
    const peaks = (extras['ephemeral-builder'] ?? []).map((e) => (e.memory as { peakTreeRssKiB?: number } | undefined)?.peakTreeRssKiB ?? NaN);
    return {
      runs: rounds,
      headlines: [
        { metric: 'full cold build vs the anchor sum', unit: 's', ours, anchor, ratio: ours / anchor, target: 'report the stage breakdown', status: 'INFO' },
      ],
      series,
      notes: [
        `Our stages (median): ${describeMedians(oursStages)}.`,
        `Anchor parts (median): ${describeMedians(anchorParts)}. The anchor makes one .deb and one tarball and runs no overlays and no verification; our pack stage also writes the host .deb, install.sh, manifest.json and SHA256SUMS, and checks the tree for extended attributes.`,
        `Compression as the recipe says: tarball zstd -${level}, .deb members ${debTool} -${debLevel}; the anchor uses the same.`,
        `Peak memory of our whole process tree (sampled every 0.5 s): ${peaks.map((p) => `${Math.round(p / 1024)} MiB`).join(', ')}.`,
      ],
      charts: [chart],
      details: { stageMedians: oursStages, anchorParts, perRun: extras },
    };
  },
};
