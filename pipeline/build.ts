// The build, as a table of contents: plan, verify every stage, then bootstrap → steps → overlays
// → verify → pack, each stage's output handed explicitly to the next.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Cache } from './cache.ts';
import { StageError } from './errors.ts';
import type { ResolvedRecipe } from './recipe/resolve.ts';
import { StageRunner, type AnyStage } from './runner.ts';
import type { StageName } from './stage.ts';
import { bootstrapStage } from './stages/bootstrap.ts';
import { overlaysStage } from './stages/overlays.ts';
import { stepsStage } from './stages/steps.ts';
import { verifyStage } from './stages/verify.ts';
import { packStage, type Artifacts } from './stages/pack.ts';
import type { Plan, Reporter } from './ui/reporter.ts';
import { replaceDir } from './util/fs-atomic.ts';

export const PIPELINE: AnyStage[] = [bootstrapStage, stepsStage, overlaysStage, verifyStage, packStage];

export interface BuildOptions {
  outDir: string;
  cacheDir: string;
  useCache: boolean;
  dryRun: boolean;
  stopAfter?: StageName;
  /** Faster, larger compression for development. */
  fast: boolean;
  signal: AbortSignal;
}

export interface BuildResult {
  plan: Plan;
  /** With --stop-after before pack: where the tree was left. */
  rootfs?: string;
  treeDigest?: string;
  artifacts?: Artifacts;
}

export async function build(recipe: ResolvedRecipe, opts: BuildOptions, reporter: Reporter): Promise<BuildResult> {
  const stages = PIPELINE.slice(0, opts.stopAfter ? PIPELINE.findIndex((s) => s.name === opts.stopAfter) + 1 : PIPELINE.length);
  const runner = new StageRunner(recipe, {
    cache: new Cache(opts.cacheDir, opts.useCache),
    reporter,
    signal: opts.signal,
    scratchRoot: path.join(opts.cacheDir, 'tmp'),
  });
  const plan = runner.plan(stages);
  reporter.plan(plan);
  if (opts.dryRun) return { plan };
  await runner.verifyAll(stages);
  try {
    const base = await runner.run(bootstrapStage, undefined);
    if (opts.stopAfter === 'bootstrap') return { plan, rootfs: await keepTree(base.rootfs, opts.outDir, 'bootstrap') };
    const customized = await runner.run(stepsStage, base);
    if (opts.stopAfter === 'steps') return { plan, rootfs: await keepTree(customized.rootfs, opts.outDir, 'steps') };
    const image = await runner.run(overlaysStage, customized);
    if (opts.stopAfter === 'overlays') return { plan, rootfs: await keepTree(image.rootfs, opts.outDir, 'overlays') };
    const verified = await runner.run(verifyStage, image);
    if (opts.stopAfter === 'verify') return { plan, treeDigest: verified.treeDigest, rootfs: await keepTree(verified.rootfs, opts.outDir, 'verify') };
    const artifacts = await runner.run(packStage, { tree: verified, outDir: opts.outDir, fast: opts.fast, plan });
    return { plan, treeDigest: verified.treeDigest, artifacts };
  } catch (err) {
    runner.keepLogs(path.join(opts.cacheDir, 'logs', 'last-failed'));
    throw err;
  } finally {
    await runner.dispose();
  }
}

/** Move a finished tree to OUT/rootfs; the rename means OUT never holds a half-moved tree. */
async function keepTree(tree: string, outDir: string, stage: StageName): Promise<string> {
  fs.mkdirSync(outDir, { recursive: true });
  const final = path.join(outDir, 'rootfs');
  const tmp = path.join(outDir, `.rootfs.tmp-${process.pid}`);
  try {
    try {
      fs.renameSync(tree, tmp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      // Another filesystem: cp -a keeps owners, modes, links and xattrs, which fs.cp does not.
      const cp = await execa('cp', ['-a', '--reflink=auto', tree, tmp], { reject: false });
      if (cp.failed) {
        const full = /No space left on device/.test(cp.stderr);
        throw new StageError(
          stage,
          `cannot copy the tree to ${final}: ${full ? 'no space left on device' : cp.stderr.split('\n')[0]}`,
          full ? 'free space on the output filesystem, or choose another --out' : undefined,
        );
      }
    }
    replaceDir(tmp, final);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return final;
}
