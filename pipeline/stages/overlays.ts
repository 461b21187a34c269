// Stage overlays: applies the recipe's overlays in order to the bootstrapped tree. Each overlay is
// a folder with files/ (copied in) and/or overlay.ts (run after its files). Reads: overlays, and
// whatever each overlay reads (user, name, binds, sourceDateEpoch for the built-ins).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { copyFilesInto } from '../overlay/copy-files.ts';
import type { OverlayDefinition } from '../overlay/define.ts';
import { ImageRoot } from '../overlay/image-root.ts';
import { overlayScript } from '../package-root.ts';
import type { RootfsTree, Stage } from '../stage.ts';
import { stdoutOf } from '../util/exec.ts';
import { treeDigestSync } from '../util/tree-digest.ts';

export const overlaysStage: Stage<RootfsTree, RootfsTree> = {
  name: 'overlays',
  version: 2,
  title: 'Apply overlays',

  async verify(recipe) {
    // Load every overlay.ts now, so that a broken one fails before the bootstrap runs.
    for (const ref of recipe.overlayRefs) (await loadOverlay(ref.dir))?.verify?.(recipe);
  },

  cacheKey(r) {
    return {
      overlays: r.overlayRefs.map((o) => ({ name: o.name, source: treeDigestSync(o.dir) })),
      user: r.user,
      name: r.name,
      binds: r.binds,
      sourceDateEpoch: r.sourceDateEpoch,
    };
  },

  async run(input, ctx) {
    const image = new ImageRoot(input.rootfs);
    for (const [i, ref] of ctx.recipe.overlayRefs.entries()) {
      ctx.progress(`${i + 1}/${ctx.recipe.overlayRefs.length} ${ref.name}`);
      const files = path.join(ref.dir, 'files');
      if (fs.existsSync(files)) ctx.log(`${ref.name}: copied ${copyFilesInto(files, image)} entries`);
      const def = await loadOverlay(ref.dir);
      if (def) {
        ctx.log(`${ref.name}: ${def.description}`);
        await def.apply({ image, recipe: ctx.recipe, workDir: ctx.workDir, log: (l) => ctx.log(`${ref.name}: ${l}`), run: stdoutOf(ctx.tools) });
      }
    }
    return input;
  },
};

async function loadOverlay(dir: string): Promise<OverlayDefinition | undefined> {
  const file = overlayScript(dir);
  if (!file) return undefined;
  const mod = (await import(pathToFileURL(file).href)) as { default?: OverlayDefinition };
  if (!mod.default || typeof mod.default.apply !== 'function') {
    throw new Error(`${file} must \`export default defineOverlay({ description, apply })\``);
  }
  return mod.default;
}
