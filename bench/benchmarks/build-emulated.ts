// build-emulated: a cold build of recipes/minimal.ts for arm64 on this amd64 machine, through
// qemu-user (binfmt_misc), up to a verified root filesystem (`build --stop-after verify
// --no-cache`), against plain mmdebstrap for arm64 with the same packages and sources, emulated
// the same way, side by side. Reported, no target: it says what a foreign build costs here.
import path from 'node:path';
import { alternate, medianOf, ratioHeadline, type Benchmark, type Side } from '../lib/bench.ts';
import { MINIMAL_RECIPE, mmdebstrapAnchorArgs, resolved, variantRecipe } from '../lib/fixtures.ts';
import { freshDir, REPO } from '../lib/paths.ts';
import { removeTree, runTimedOk } from '../lib/proc.ts';
import { coldVerifiedBuild, describeMedians, stageMedians } from './build-common.ts';

export const buildEmulated: Benchmark = {
  name: 'build-emulated',
  title: 'Cold arm64 build on amd64 (qemu-user), to a verified rootfs',
  anchor: 'plain mmdebstrap --architectures=arm64, emulated the same way',
  async run(ctx) {
    const file = variantRecipe('minimal-arm64', MINIMAL_RECIPE, { architecture: 'arm64' });
    const r = await resolved(ctx, file);
    const rounds = ctx.runs(2);
    const work = freshDir('build-emulated');
    const sides: Side[] = [
      coldVerifiedBuild('ephemeral-builder (arm64)', file, work),
      {
        label: 'mmdebstrap (arm64)',
        role: 'anchor',
        unit: 's',
        async run() {
          const dir = path.join(work, 'mmdebstrap');
          removeTree(dir);
          const t = await runTimedOk('mmdebstrap', mmdebstrapAnchorArgs(r, dir, path.join(work, 'keys')));
          removeTree(dir);
          return { value: t.wallMs / 1000, cpuS: t.userS + t.sysS };
        },
      },
    ];
    const { series, extras } = await alternate(sides, { rounds, log: ctx.log, name: 'build-emulated' });
    const ours = medianOf(series, 'ephemeral-builder (arm64)');
    const anchor = medianOf(series, 'mmdebstrap (arm64)');
    const stages = stageMedians(extras['ephemeral-builder (arm64)'] ?? []);
    return {
      runs: rounds,
      headlines: [{ ...ratioHeadline('cold arm64 build to verified rootfs vs emulated mmdebstrap', 's', ours, anchor, Infinity, 'report'), status: 'INFO' }],
      series,
      notes: [
        `Recipe ${path.relative(REPO, MINIMAL_RECIPE)} with architecture arm64: packages ${r.packages.join(' ')}; sources ${r.aptSources.map((s) => s.dist).join(', ')}. Both sides run arm64 maintainer scripts under qemu-user-static (binfmt_misc, F flag).`,
        `Our stages (median): ${describeMedians(stages)}; verify runs sshd -t and an ssh session in the emulated container.`,
      ],
      charts: [],
      details: { stageMedians: stages, perRun: extras },
    };
  },
};
