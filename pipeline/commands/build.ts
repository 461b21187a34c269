// The `build` command: loads and resolves the recipe, runs the pipeline with the UI the terminal
// calls for, and prints where the result is. SIGINT and SIGTERM stop the build and clean up
// (a second one exits at once); the error that leaves here says which signal it was.
import os from 'node:os';
import path from 'node:path';
import { build } from '../build.ts';
import { exitCodeFor, Interrupted, UsageError } from '../errors.ts';
import { nextVersion, type Bump } from '../publish/next-version.ts';
import { loadRecipe } from '../recipe/load.ts';
import { resolveRecipe } from '../recipe/resolve.ts';
import type { Architecture } from '../recipe/schema.ts';
import type { StageName } from '../stage.ts';
import { pickReporter } from '../ui/pick-reporter.ts';
import { isValidSemver } from '../util/semver.ts';

export function defaultCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'ephemeral-builder');
}

export interface BuildFlags {
  out: string;
  version?: string;
  architecture?: Architecture;
  bump?: Bump;
  repo?: string;
  cacheDir: string;
  cache: boolean;
  dryRun?: boolean;
  json?: boolean;
  stopAfter?: StageName;
  fast?: boolean;
  verbose?: boolean;
}

export async function buildCommand(recipeFile: string, flags: BuildFlags): Promise<void> {
  if (flags.version !== undefined && !isValidSemver(flags.version)) {
    throw new UsageError(`--version: "${flags.version}" is not a semantic version (expected X.Y.Z or X.Y.Z-rc.N)`);
  }
  if (flags.bump && flags.version) throw new UsageError('--bump and --version: give one, not both');
  if (flags.bump && !flags.repo) throw new UsageError('--bump needs --repo DIR: the repository whose latest version is bumped');
  const reporter = pickReporter({ json: Boolean(flags.json), verbose: Boolean(flags.verbose) });
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCodeFor(new Interrupted(signal))); // a second Ctrl-C: stop waiting for cleanup
    reporter.warn(`${signal}: stopping and cleaning up (press Ctrl-C again to exit at once)`);
    controller.abort(new Interrupted(signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let loaded = await loadRecipe(recipeFile, { version: flags.version, architecture: flags.architecture });
    if (flags.bump && flags.repo) {
      // The host package is named after the recipe; its versions are the releases.
      const version = nextVersion(flags.repo, loaded.recipe.name, flags.bump);
      reporter.info(`--bump ${flags.bump}: ${loaded.recipe.name} ${version} (from ${flags.repo})`);
      loaded = await loadRecipe(recipeFile, { version, architecture: flags.architecture });
    }
    const recipe = await resolveRecipe(loaded, flags.cacheDir, {
      signal: controller.signal,
      onRetry: (n, why, ms) => reporter.warn(`mirror: ${why}; retry ${n} in ${ms} ms`),
    });
    const result = await build(
      recipe,
      {
        outDir: path.resolve(flags.out),
        cacheDir: path.resolve(flags.cacheDir),
        useCache: flags.cache,
        dryRun: Boolean(flags.dryRun),
        stopAfter: flags.stopAfter,
        fast: Boolean(flags.fast),
        signal: controller.signal,
      },
      reporter,
    );
    await reporter.done(result);
    if (!flags.json) printResult(result);
  } catch (err) {
    await reporter.done();
    throw controller.signal.aborted && !(err instanceof Interrupted) ? new Interrupted((controller.signal.reason as Interrupted).signal) : err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function printResult(result: Awaited<ReturnType<typeof build>>): void {
  if (result.rootfs) process.stdout.write(`rootfs: ${result.rootfs}\n`);
  if (result.treeDigest) process.stdout.write(`tree digest: ${result.treeDigest}\n`);
  for (const [role, file] of Object.entries(result.artifacts ?? {})) process.stdout.write(`${role}: ${file}\n`);
  if (!result.rootfs && !result.artifacts) {
    for (const s of result.plan.stages) process.stdout.write(`${s.stage}\t${s.key}\t${s.cache}\n`);
  }
}
