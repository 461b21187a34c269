// What several benchmarks need and is expensive to make, made once per invocation and shared:
// resolved recipes, bench-only recipe variants (written as real recipe modules that extend the
// project's recipes), and a verified tree of a recipe (built through the CLI with the bench's
// warm cache). Everything lives under the scratch area (bench/lib/paths.ts), never in the repo.
import fs from 'node:fs';
import path from 'node:path';
import { loadRecipe } from '../../pipeline/recipe/load.ts';
import { resolveRecipe, type ResolvedRecipe } from '../../pipeline/recipe/resolve.ts';
import { debLines } from '../../pipeline/sources/apt-sources.ts';
import type { RecipeInput } from '../../pipeline/recipe/schema.ts';
import type { BenchContext } from './bench.ts';
import { cliBuild } from './cli-build.ts';
import { BENCH_CACHE, REPO, WORK } from './paths.ts';

export const DEFAULT_RECIPE = path.join(REPO, 'recipes/default.ts');
export const MINIMAL_RECIPE = path.join(REPO, 'recipes/minimal.ts');
/** The recipe's overlays when it names none (pipeline/recipe/schema.ts). */
export const DEFAULT_OVERLAYS = ['builder-user', 'dotfiles', 'template-home', 'sshd', 'container-init', 'hygiene'];

/** The recipe as the pipeline sees it (defaults applied, checked against the mirror). */
export async function resolved(ctx: BenchContext, file: string): Promise<ResolvedRecipe> {
  const key = `resolved:${file}`;
  const hit = ctx.shared.get(key) as ResolvedRecipe | undefined;
  if (hit) return hit;
  const r = await resolveRecipe(await loadRecipe(file), BENCH_CACHE);
  ctx.shared.set(key, r);
  return r;
}

/**
 * mmdebstrap's arguments for the anchor: the recipe's variant, packages and suite, and every
 * source our bootstrap reads (updates, security, extra repositories with their keys, written to
 * keyDir), so that both sides install the same versions from the same places.
 */
export function mmdebstrapAnchorArgs(r: ResolvedRecipe, tree: string, keyDir: string): string[] {
  const lines = debLines(r.aptSources, (s) => {
    const file = path.join(keyDir, `${s.name}.gpg`);
    fs.mkdirSync(keyDir, { recursive: true });
    fs.writeFileSync(file, s.key?.data ?? '');
    return file;
  });
  return [`--variant=${r.variant}`, `--architectures=${r.architecture}`, `--include=${r.packages.join(',')}`, r.suite, tree, ...lines];
}

/**
 * A recipe module under WORK/recipes that spreads `base` and overrides some fields (object fields
 * such as limits are merged), so the CLI loads it like any recipe. Overlay paths may be absolute.
 */
export function variantRecipe(name: string, base: string, overrides: Partial<RecipeInput>): string {
  const dir = path.join(WORK, 'recipes');
  fs.mkdirSync(dir, { recursive: true });
  // Node decides ESM from the nearest package.json; this directory is outside the repository.
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(
    file,
    [
      `// Written by bench/lib/fixtures.ts: ${path.relative(REPO, base)} with benchmark overrides.`,
      `import { defineRecipe } from ${JSON.stringify(path.join(REPO, 'pipeline/recipe/define.ts'))};`,
      `import base from ${JSON.stringify(base)};`,
      '',
      // Object fields (limits, ssh...) are merged into the base's, not replaced.
      `export default defineRecipe({`,
      '  ...base,',
      ...Object.entries(overrides).map(([k, v]) =>
        v !== null && typeof v === 'object' && !Array.isArray(v)
          ? `  ${k}: { ...(base as Record<string, any>).${k}, ...${JSON.stringify(v)} },`
          : `  ${k}: ${JSON.stringify(v)},`,
      ),
      '});',
      '',
    ].join('\n'),
  );
  return file;
}

export interface VerifiedTreeFixture {
  recipe: ResolvedRecipe;
  /** The verified root filesystem (OUT/rootfs of `build --stop-after verify`). */
  rootfs: string;
  treeDigest?: string;
}

/** `build --stop-after verify` of a recipe with the bench cache, once per invocation. */
export async function verifiedTree(ctx: BenchContext, file: string): Promise<VerifiedTreeFixture> {
  const key = `tree:${file}`;
  const hit = ctx.shared.get(key) as VerifiedTreeFixture | undefined;
  if (hit) return hit;
  const recipe = await resolved(ctx, file);
  const out = path.join(WORK, 'trees', path.basename(file, '.ts'));
  ctx.log(`fixture: verified tree of ${path.relative(REPO, file)} (warm cache) in ${out}`);
  const b = await cliBuild({ recipe: file, out, cacheDir: BENCH_CACHE, stopAfter: 'verify' });
  const rootfs = b.result?.rootfs ?? path.join(out, 'rootfs');
  const fixture = { recipe, rootfs, treeDigest: b.result?.treeDigest };
  ctx.shared.set(key, fixture);
  return fixture;
}
