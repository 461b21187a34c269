// sbom: what the SBOM costs a build. Ours: generating the CycloneDX SBOM of recipes/default.ts's
// verified tree (the dpkg database, every copyright file, the library's serializer), in this
// process as the pack stage does it. Anchor: the cached rebuild it is part of, a full build with
// the recipe's compression after an overlay-only change (bootstrap from the cache; overlays,
// verify and pack run). Target: the SBOM adds under 5 % to that rebuild.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { imageSbom } from '../../pipeline/sbom/image-sbom.ts';
import { alternate, medianOf, ratioHeadline, type Benchmark, type Side } from '../lib/bench.ts';
import { cliBuild } from '../lib/cli-build.ts';
import { DEFAULT_OVERLAYS, DEFAULT_RECIPE, resolved, variantRecipe, verifiedTree } from '../lib/fixtures.ts';
import { BENCH_CACHE, freshDir, REPO, WORK } from '../lib/paths.ts';
import { removeTree } from '../lib/proc.ts';

export const sbom: Benchmark = {
  name: 'sbom',
  title: 'SBOM generation against a cached rebuild',
  anchor: 'a full rebuild of the same recipe with the bootstrap cached',
  async run(ctx) {
    const base = process.env.EB_BENCH_RECIPE ?? DEFAULT_RECIPE;
    const tree = await verifiedTree(ctx, base);
    const r = await resolved(ctx, base);
    const overlayDir = path.join(WORK, 'recipes', 'bench-sbom-overlay');
    const marker = path.join(overlayDir, 'files/etc/eb-bench-sbom');
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    const file = variantRecipe('sbom-rebuild', base, { overlays: [...DEFAULT_OVERLAYS.filter((o) => o !== 'hygiene'), overlayDir, 'hygiene'] });
    const out = path.join(freshDir('sbom'), 'out');
    let components = 0;
    const sides: Side[] = [
      {
        label: 'SBOM of the verified tree',
        role: 'ours',
        unit: 'ms',
        rounds: 5,
        async run() {
          const t0 = performance.now();
          const text = imageSbom({ rootfs: tree.rootfs, treeDigest: tree.treeDigest ?? '0'.repeat(64) }, r);
          const ms = performance.now() - t0;
          components = (JSON.parse(text) as { components: unknown[] }).components.length;
          return { value: ms };
        },
      },
      {
        label: 'cached rebuild',
        role: 'anchor',
        unit: 'ms',
        rounds: ctx.runs(3),
        async before() {
          fs.writeFileSync(marker, `changed ${crypto.randomUUID()}\n`);
        },
        async run() {
          const b = await cliBuild({ recipe: file, out, cacheDir: BENCH_CACHE });
          removeTree(out);
          return { value: b.run.wallMs, cpuS: b.run.userS + b.run.sysS, extra: { stages: b.stages } };
        },
      },
    ];
    const { series, extras } = await alternate(sides, { rounds: 5, log: ctx.log, name: 'sbom' });
    const ours = medianOf(series, 'SBOM of the verified tree');
    const rebuild = medianOf(series, 'cached rebuild');
    return {
      runs: 5,
      headlines: [ratioHeadline('SBOM generation vs a cached rebuild (full build, bootstrap cached)', 'ms', ours, rebuild, 0.05, '< 0.05× (5 %)')],
      series,
      notes: [
        `Recipe ${path.relative(REPO, base)}: ${components} packages in the SBOM. Ours times imageSbom() on the verified tree in this process, as the pack stage calls it.`,
        `The rebuild is \`build\` of the recipe plus one bench overlay whose file changes before every run (bootstrap cached), with the recipe's compression; it includes the SBOM.`,
      ],
      charts: [],
      details: { perRun: extras },
    };
  },
};
