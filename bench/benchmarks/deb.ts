// deb: our .deb writer (pipeline/pack/deb-writer.ts: GNU tar headers with md5sums, xz child process,
// ar) against `dpkg-deb -Zxz -z6 --root-owner-group -b` with the recipe's compressor and level, on
// the same staging directory: the verified tree of recipes/default.ts under
// usr/lib/<name>/images/<ver>/ plus DEBIAN/control, made once outside the timed region.
// Five rounds, alternating. Target: no slower than dpkg-deb (≤ 1.0 ×).
import path from 'node:path';
import { alternate, limitHeadline, medianOf, ratioHeadline, sizeOf, type Benchmark, type Side } from '../lib/bench.ts';
import { CLI_NODE_FLAGS } from '../lib/cli-build.ts';
import { makeStaging } from '../lib/debian.ts';
import { DEFAULT_RECIPE, verifiedTree } from '../lib/fixtures.ts';
import { freshDir, REPO } from '../lib/paths.ts';
import { runTimedOk, shTimed, type TreeMemory } from '../lib/proc.ts';
import { summarize } from '../lib/stats.ts';

const WORKER = path.join(import.meta.dirname, '../lib/workers/deb.ts');

export const deb: Benchmark = {
  name: 'deb',
  title: 'Image .deb writer on a verified tree',
  anchor: 'dpkg-deb -b with the same compressor and level on the same tree',
  async run(ctx) {
    const file = process.env.EB_BENCH_RECIPE ?? DEFAULT_RECIPE;
    const { recipe: r, rootfs } = await verifiedTree(ctx, file);
    const work = freshDir('deb');
    const rounds = ctx.runs(5);
    const tool = r.compression.deb;
    const level = r.compression.debLevel;
    ctx.log('deb: preparing the staging directory (untimed)');
    const staging = await makeStaging(path.join(work, 'staging'), rootfs, r, 'copy');
    await shTimed(`tar -cf - -C '${staging.dir}' . | cat > /dev/null`);
    const oursOut = path.join(work, 'ours.deb');
    const anchorOut = path.join(work, 'dpkg-deb.deb');
    const oursLabel = `ours, ${tool} -${level}`;
    const anchorLabel = `dpkg-deb -Z${tool} -z${level}`;
    const sides: Side[] = [
      {
        label: oursLabel,
        role: 'ours',
        unit: 's',
        async run() {
          const t = await runTimedOk(process.execPath, [...CLI_NODE_FLAGS, WORKER, staging.dir, oursOut, tool, String(level), String(r.sourceDateEpoch)], {
            sampleMs: 200,
          });
          return { value: t.wallMs / 1000, cpuS: t.userS + t.sysS, extra: { bytes: sizeOf(oursOut), memory: t.memory } };
        },
      },
      {
        label: anchorLabel,
        role: 'anchor',
        unit: 's',
        async run() {
          const t = await runTimedOk('dpkg-deb', [`-Z${tool}`, `-z${level}`, '--root-owner-group', '-b', staging.dir, anchorOut], { sampleMs: 200 });
          return { value: t.wallMs / 1000, cpuS: t.userS + t.sysS, extra: { bytes: sizeOf(anchorOut), memory: t.memory } };
        },
      },
    ];
    const res = await alternate(sides, { rounds, log: ctx.log, name: 'deb' });
    const ours = medianOf(res.series, oursLabel);
    const anchor = medianOf(res.series, anchorLabel);
    ctx.shared.set('deb:ours-deb', { file: oursOut, staging: staging.dir, rootfs });
    const peak = (label: string, what: (m: TreeMemory) => number) =>
      (Math.max(...(res.extras[label] ?? []).map((e) => (e.memory ? what(e.memory as TreeMemory) : NaN))) * 1024) / 1e6;
    const nodePeak = peak(oursLabel, (m) => m.hwmByCommKiB.node ?? NaN);
    const cpu = (label: string) => summarize(res.series.find((s) => s.label === label)?.cpuS ?? []).median;
    const dataBytes = Number((await runTimedOk('du', ['-sb', staging.imageRoot])).stdout.split('\t')[0]);
    return {
      runs: rounds,
      headlines: [
        ratioHeadline(`image .deb, ${tool} -${level}`, 's', ours, anchor, 1.0, '≤ 1.0×'),
        limitHeadline('peak RSS of our writer (node process)', 'MB', nodePeak, 200, '< 200 MB'),
      ],
      series: res.series,
      notes: [
        `Staging: the verified rootfs of ${path.relative(REPO, file)} (${(dataBytes / 1e6).toFixed(0)} MB) under ${path.relative(staging.dir, staging.imageRoot)}, plus DEBIAN/control with the image package's fields. Ours reads everything but DEBIAN/ and writes md5sums as well (dpkg-deb -b does not); dpkg-deb resets owners to root with --root-owner-group (ours keeps the numeric owners).`,
        `Sizes: ours ${sizeOf(oursOut).toLocaleString('en-US')} B, dpkg-deb ${sizeOf(anchorOut).toLocaleString('en-US')} B. CPU s (median): ours ${cpu(oursLabel).toFixed(1)}, dpkg-deb ${cpu(anchorLabel).toFixed(1)}.`,
        `Peak RSS: ours node ${nodePeak.toFixed(0)} MB, our whole tree (node + ${tool}) ${peak(oursLabel, (m) => m.peakTreeRssKiB).toFixed(0)} MB; dpkg-deb tree ${peak(anchorLabel, (m) => m.peakTreeRssKiB).toFixed(0)} MB.`,
      ],
      charts: [],
      details: { perRun: res.extras },
    };
  },
};
