// Stage bootstrap: a Debian root filesystem with the recipe's packages, made by mmdebstrap or
// debootstrap. SOURCE_DATE_EPOCH comes from the recipe or the mirror's Release date, never now.
// Reads: bootstrapper, suite, architecture, mirror, components, variant, packages, sourceDateEpoch.
import fs from 'node:fs';
import path from 'node:path';
import { requireRoot, requireTools } from '../host-tools.ts';
import type { RootfsTree, Stage } from '../stage.ts';

export const bootstrapStage: Stage<void, RootfsTree> = {
  name: 'bootstrap',
  version: 1,
  title: 'Bootstrap the Debian root filesystem',

  verify(recipe) {
    requireRoot(`${recipe.bootstrapper} and systemd-nspawn need it`);
    requireTools([recipe.bootstrapper, 'tar', 'zstd', 'systemd-nspawn']);
  },

  cacheKey(r) {
    return {
      bootstrapper: r.bootstrapper, suite: r.suite, codename: r.mirrorState.codename, architecture: r.architecture,
      mirror: r.mirror, components: r.components, variant: r.variant,
      // Order does not change what apt installs, so it must not change the key.
      packages: [...r.packages].sort(),
      inRelease: r.mirrorState.inReleaseSha256, sourceDateEpoch: r.sourceDateEpoch,
    };
  },

  async run(_input, ctx) {
    const r = ctx.recipe;
    const rootfs = path.join(ctx.workDir, 'bootstrap-rootfs');
    fs.rmSync(rootfs, { recursive: true, force: true });
    const env = { SOURCE_DATE_EPOCH: String(r.sourceDateEpoch), LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
    const include = r.packages.length ? [`--include=${r.packages.join(',')}`] : [];
    if (r.bootstrapper === 'mmdebstrap') {
      ctx.progress(`mmdebstrap ${r.suite} (${r.packages.length} packages)`);
      await ctx.tools.run('mmdebstrap', [
        `--variant=${r.variant}`, `--architectures=${r.architecture}`, `--components=${r.components.join(',')}`,
        ...include, '--mode=root', '--format=directory', r.suite, rootfs, r.mirror,
      ], { env });
    } else {
      ctx.progress(`debootstrap ${r.suite} (${r.packages.length} packages)`);
      fs.mkdirSync(rootfs, { recursive: true });
      await ctx.tools.run('debootstrap', [
        `--variant=${r.variant}`, `--arch=${r.architecture}`, `--components=${r.components.join(',')}`,
        ...include, r.suite, rootfs, r.mirror,
      ], { env });
    }
    return { rootfs };
  },

  cache: {
    treeOf: (out) => out.rootfs,
    fromTree: (rootfs) => ({ rootfs }),
  },
};
