// size: how small our artifacts are against a plain strong compression of the same cleaned
// (verified) tree: our .tar.zst against `tar | zstd -19 --long`, and our image .deb against
// `tar | xz -9` of the same data. Sizes are deterministic, so one run each. Uses the outputs the
// pack and deb benchmarks left in this invocation, or makes them. Target: within 5 %.
import fs from 'node:fs';
import path from 'node:path';
import { ratioHeadline, seriesOf, sizeOf, type Benchmark } from '../lib/bench.ts';
import { makeStaging } from '../lib/debian.ts';
import { DEFAULT_RECIPE, verifiedTree } from '../lib/fixtures.ts';
import { freshDir, REPO } from '../lib/paths.ts';
import { runTimedOk, shTimed } from '../lib/proc.ts';
import { TARBALL_LONG } from '../../pipeline/stages/pack.ts';

const TARBALL_WORKER = path.join(import.meta.dirname, '../lib/workers/tarball.ts');
const DEB_WORKER = path.join(import.meta.dirname, '../lib/workers/deb.ts');

export const size: Benchmark = {
  name: 'size',
  title: 'Artifact size',
  anchor: 'zstd -19 --long (tarball) and xz -9 (image .deb) of the same tree',
  async run(ctx) {
    const file = process.env.EB_BENCH_RECIPE ?? DEFAULT_RECIPE;
    const { recipe: r, rootfs } = await verifiedTree(ctx, file);
    const work = freshDir('size');
    const sde = String(r.sourceDateEpoch);

    // Ours as the pack stage writes it: the recipe's level, long-distance matching if the stage uses it.
    const ourZstd = `zstd -${r.compression.tarballLevel}${TARBALL_LONG ? ' --long=27' : ''}`;
    let tarball = ctx.shared.get('pack:ours-tarball') as { file: string; rootfs: string; long: boolean } | undefined;
    if (!tarball || tarball.rootfs !== rootfs || tarball.long !== TARBALL_LONG || !fs.existsSync(tarball.file)) {
      ctx.log(`size: writing our tarball (${ourZstd})`);
      const f = path.join(work, 'ours.tar.zst');
      await runTimedOk(process.execPath, [TARBALL_WORKER, rootfs, f, String(r.compression.tarballLevel), sde, ...(TARBALL_LONG ? ['long'] : [])]);
      tarball = { file: f, rootfs, long: TARBALL_LONG };
    }
    let debFile = ctx.shared.get('deb:ours-deb') as { file: string; rootfs: string } | undefined;
    if (!debFile || debFile.rootfs !== rootfs || !fs.existsSync(debFile.file)) {
      ctx.log(`size: writing our image .deb (${r.compression.deb} -${r.compression.debLevel})`);
      const staging = await makeStaging(path.join(work, 'staging'), rootfs, r, 'copy');
      const f = path.join(work, 'ours.deb');
      await runTimedOk(process.execPath, [DEB_WORKER, staging.dir, f, r.compression.deb, String(r.compression.debLevel), sde]);
      debFile = { file: f, rootfs };
    }
    ctx.log('size: anchors (tar | zstd -19 --long, tar | xz -9)');
    const zstdLong = path.join(work, 'anchor.tar.zst');
    const xz9 = path.join(work, 'anchor.tar.xz');
    const tarCmd = `tar --sort=name --numeric-owner -cf - -C '${rootfs}' .`;
    await shTimed(`${tarCmd} | zstd -q -T0 -19 --long > '${zstdLong}'`);
    await shTimed(`${tarCmd} | xz -q -T0 -9 > '${xz9}'`);
    // For the explanation: what tar alone weighs.
    const rawTar = Number((await shTimed(`${tarCmd} | wc -c`)).stdout.trim());
    // And what our .deb writer gives at xz -9, from a staging copy of the tree.
    const staging9 = await makeStaging(path.join(work, 'staging-9'), rootfs, r, 'copy');
    const oursDeb9 = path.join(work, 'ours-xz9.deb');
    await runTimedOk(process.execPath, [DEB_WORKER, staging9.dir, oursDeb9, 'xz', '9', sde]);
    fs.rmSync(staging9.dir, { recursive: true, force: true });

    const s = {
      oursTarball: sizeOf(tarball.file),
      anchorTarball: sizeOf(zstdLong),
      oursDeb: sizeOf(debFile.file),
      anchorDeb: sizeOf(xz9),
      oursDeb9: sizeOf(oursDeb9),
      rawTar,
    };
    const mb = (b: number) => b / 1e6;
    return {
      runs: 1,
      headlines: [
        ratioHeadline(`.tar.zst (${ourZstd}) vs zstd -19 --long`, 'MB', mb(s.oursTarball), mb(s.anchorTarball), 1.05, '≤ 1.05× (within 5 %)'),
        ratioHeadline(
          `image .deb (${r.compression.deb} -${r.compression.debLevel}) vs xz -9`,
          'MB',
          mb(s.oursDeb),
          mb(s.anchorDeb),
          1.05,
          '≤ 1.05× (within 5 %)',
        ),
      ],
      series: [
        seriesOf('our .tar.zst', 'ours', 'MB', [mb(s.oursTarball)]),
        seriesOf('tar | zstd -19 --long', 'anchor', 'MB', [mb(s.anchorTarball)]),
        seriesOf('our image .deb', 'ours', 'MB', [mb(s.oursDeb)]),
        seriesOf('tar | xz -9', 'anchor', 'MB', [mb(s.anchorDeb)]),
        seriesOf('our .deb writer, xz -9', 'info', 'MB', [mb(s.oursDeb9)]),
        seriesOf('uncompressed tar', 'info', 'MB', [mb(s.rawTar)]),
      ],
      notes: [
        `Tree: the verified rootfs of ${path.relative(REPO, file)}; uncompressed tar ${mb(s.rawTar).toFixed(1)} MB. Our files are the ones the pipeline's writers make at the recipe's levels (the tarball with the host files is a few KB larger; these hold the image alone).`,
        `The pack stage writes the tarball with ${ourZstd}${TARBALL_LONG ? ' (128 MiB window, still readable by plain `zstd -d` and `tar --zstd`)' : ''}. At xz -9, our .deb writer's image package is ${mb(s.oursDeb9).toFixed(1)} MB: ${(s.oursDeb9 / s.anchorDeb).toFixed(3)}× the anchor, so the .deb gap is the default level (compression.debLevel 6), not the writer; xz -9 needs a 64 MiB dictionary and about 670 MB per compressor thread, against the memory target, so -9 is a recipe opt-in.`,
      ],
      charts: [],
      details: { bytes: s },
    };
  },
};
