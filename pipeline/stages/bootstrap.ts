// Stage bootstrap: a Debian root filesystem with the recipe's packages from all of its sources (the
// suite, its updates and security suites, the extra repositories), made by mmdebstrap or
// debootstrap, and left with deb822 apt sources that say what it was built from.
// SOURCE_DATE_EPOCH comes from the recipe or the sources' Release dates, never now.
// Reads: bootstrapper, suite, architecture, mirror, components, variant, packages, sources,
// repositories, sourceDateEpoch.
import fs from 'node:fs';
import path from 'node:path';
import { buildMachineArchitecture, requireRoot, requireRunnable, requireTools } from '../build-machine.ts';
import { ImageRoot } from '../overlay/image-root.ts';
import { debLines, writeImageSources } from '../sources/apt-sources.ts';
import { sourceRecord, type ResolvedSource } from '../sources/resolve-sources.ts';
import type { RootfsTree, Stage, StageContext } from '../stage.ts';
import { runInTree } from '../util/nspawn-run.ts';

export const bootstrapStage: Stage<void, RootfsTree> = {
  name: 'bootstrap',
  version: 2,
  title: 'Bootstrap the Debian root filesystem',

  verify(recipe) {
    requireRoot(`${recipe.bootstrapper} and systemd-nspawn need it`);
    requireTools([recipe.bootstrapper, 'tar', 'zstd', 'systemd-nspawn']);
    requireRunnable(recipe.architecture, buildMachineArchitecture());
  },

  cacheKey(r) {
    return {
      bootstrapper: r.bootstrapper,
      suite: r.suite,
      codename: r.mirrorState.codename,
      architecture: r.architecture,
      variant: r.variant,
      // Order does not change what apt installs, so it must not change the key.
      packages: [...r.packages].sort(),
      // Every source's InRelease: a security update (or a repository's new release) rebuilds.
      sources: r.aptSources.map(sourceRecord),
      sourceDateEpoch: r.sourceDateEpoch,
    };
  },

  async run(_input, ctx) {
    const r = ctx.recipe;
    const rootfs = path.join(ctx.workDir, 'bootstrap-rootfs');
    fs.rmSync(rootfs, { recursive: true, force: true });
    const env = { SOURCE_DATE_EPOCH: String(r.sourceDateEpoch), LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
    const suites = r.aptSources.map((s) => s.dist).join(', ');
    if (r.bootstrapper === 'mmdebstrap') {
      ctx.progress(`mmdebstrap ${suites} (${r.packages.length} packages)`);
      const include = r.packages.length ? [`--include=${r.packages.join(',')}`] : [];
      await ctx.tools.run(
        'mmdebstrap',
        [
          `--variant=${r.variant}`,
          `--architectures=${r.architecture}`,
          ...include,
          '--mode=root',
          '--format=directory',
          r.suite,
          rootfs,
          ...debLines(r.aptSources, (s) => keyFile(ctx, s)),
        ],
        { env },
      );
      ctx.log(`apt sources: ${writeImageSources(new ImageRoot(rootfs), r.aptSources).join(', ')}`);
    } else {
      // debootstrap reads one mirror: it lays down the suite alone, and apt, inside the tree with
      // every source, then brings it up to date and installs the recipe's packages.
      ctx.progress(`debootstrap ${r.suite}`);
      fs.mkdirSync(rootfs, { recursive: true });
      await ctx.tools.run(
        'debootstrap',
        [`--variant=${r.variant}`, `--arch=${r.architecture}`, `--components=${r.components.join(',')}`, r.suite, rootfs, r.mirror],
        { env },
      );
      ctx.log(`apt sources: ${writeImageSources(new ImageRoot(rootfs), r.aptSources).join(', ')}`);
      ctx.progress(`apt: ${suites} (${r.packages.length} packages)`);
      const install = r.packages.length ? `apt-get install -y --no-install-recommends ${r.packages.join(' ')}` : ':';
      await runInTree(
        ctx.tools,
        rootfs,
        ['/bin/sh', '-ec', `apt-get update -q; apt-get full-upgrade -y -q; ${install}; apt-get clean; rm -rf /var/lib/apt/lists/*`],
        { network: true, env },
      );
    }
    return { rootfs };
  },

  cache: { treeOf: (out) => out.rootfs, fromTree: (rootfs) => ({ rootfs }) },
};

/** An extra repository's key on the build machine, for apt while it runs outside the tree. */
function keyFile(ctx: StageContext, source: ResolvedSource): string {
  const file = path.join(ctx.workDir, 'keys', `${source.name}.gpg`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, source.key?.data ?? '');
  }
  return file;
}
