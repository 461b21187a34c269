#!/usr/bin/env -S node --max-semi-space-size=4
// The ephemeral-builder command line: parses arguments, picks the UI, runs the pipeline, and is the
// one place where errors become messages and exit codes (0 ok, 1 build failed, 2 bad input or
// usage, 130 interrupted).
// The V8 flag caps the young generation at about 12 MB: by default it grew to 67 MB during the
// bootstrap (process.memoryUsage), and node kept that memory for the rest of the build. V8 reads
// the flag only at start, hence the "#!" line.
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { build } from './build.ts';
import { EXIT, exitCodeFor, Interrupted, UsageError } from './errors.ts';
import { nextVersion, type Bump } from './publish/next-version.ts';
import { publish } from './publish/publish.ts';
import { parseDuration, parseSize } from './publish/quantities.ts';
import { loadRecipe } from './recipe/load.ts';
import { resolveRecipe } from './recipe/resolve.ts';
import { STAGE_NAMES, type StageName } from './stage.ts';
import { describeError } from './ui/describe-error.ts';
import { pickReporter } from './ui/pick-reporter.ts';
import { publishReport } from './ui/publish-report.ts';
import { isValidSemver } from './util/semver.ts';

const PKG_VERSION = '0.1.0';

function defaultCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'ephemeral-builder');
}

interface BuildFlags {
  out: string;
  version?: string;
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

async function buildCommand(recipeFile: string, flags: BuildFlags): Promise<void> {
  if (flags.version !== undefined && !isValidSemver(flags.version)) {
    throw new UsageError(`--version: "${flags.version}" is not a semantic version (expected X.Y.Z or X.Y.Z-rc.N)`);
  }
  if (flags.bump && flags.version) throw new UsageError('--bump and --version: give one, not both');
  if (flags.bump && !flags.repo) throw new UsageError('--bump needs --repo DIR: the repository whose latest version is bumped');
  const reporter = pickReporter({ json: Boolean(flags.json), verbose: Boolean(flags.verbose) });
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted); // a second Ctrl-C: stop waiting for cleanup
    reporter.warn(`${signal}: stopping and cleaning up (press Ctrl-C again to exit at once)`);
    controller.abort(new Interrupted(signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let loaded = await loadRecipe(recipeFile, { version: flags.version });
    if (flags.bump && flags.repo) {
      // The host package is named after the recipe; its versions are the releases.
      const version = nextVersion(flags.repo, loaded.recipe.name, flags.bump);
      reporter.info(`--bump ${flags.bump}: ${loaded.recipe.name} ${version} (from ${flags.repo})`);
      loaded = await loadRecipe(recipeFile, { version });
    }
    const recipe = await resolveRecipe(loaded, flags.cacheDir, {
      signal: controller.signal,
      onRetry: (n, why, ms) => reporter.warn(`mirror: ${why}; retry ${n} in ${ms} ms`),
    });
    const result = await build(recipe, {
      outDir: path.resolve(flags.out), cacheDir: path.resolve(flags.cacheDir), useCache: flags.cache,
      dryRun: Boolean(flags.dryRun), stopAfter: flags.stopAfter, fast: Boolean(flags.fast), signal: controller.signal,
    }, reporter);
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

interface PublishFlags {
  repo: string;
  suite: string;
  component: string;
  signKey?: string;
  gnupgHome?: string;
  uri?: string;
  validFor: string;
  nextKey: string[];
  resign?: boolean;
  keep?: string;
  maxSize?: string;
  dryRun?: boolean;
  json?: boolean;
}

async function publishCommand(debs: string[], flags: PublishFlags): Promise<void> {
  if (flags.keep !== undefined && !/^[0-9]+$/.test(flags.keep)) throw new UsageError(`--keep ${flags.keep}: give a number of releases to keep (1 or more)`);
  const result = await publish({
    repoDir: flags.repo, suite: flags.suite, component: flags.component, signKey: flags.signKey,
    gnupgHome: flags.gnupgHome, sourcesUri: flags.uri, debs,
    validFor: parseDuration(flags.validFor, '--valid-for'), nextKeys: flags.nextKey, resign: flags.resign,
    keep: flags.keep === undefined ? undefined : Number(flags.keep),
    maxSize: flags.maxSize === undefined ? undefined : parseSize(flags.maxSize, '--max-size'), dryRun: flags.dryRun,
  }, (line) => process.stderr.write(`${line}\n`));
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(publishReport(result).map((l) => `${l}\n`).join(''));
}

export function program(): Command {
  const cmd = new Command('ephemeral-builder')
    .description('Build throw-away GitLab Runner SSH build containers as release artifacts')
    .version(PKG_VERSION, '-V, --version', 'print the version of ephemeral-builder')
    .showHelpAfterError('(run with --help for usage)')
    // Program options only before the subcommand, so that `build --version 1.4.0` is the image version.
    .enablePositionalOptions()
    .exitOverride();
  cmd.command('build')
    .description('build an image and its artifacts from a recipe')
    .argument('[recipe]', 'recipe module', 'recipes/default.ts')
    .option('-o, --out <dir>', 'output directory', 'out')
    .option('--version <semver>', 'image version, overriding the recipe (X.Y.Z or X.Y.Z-rc.N)')
    .option('--cache-dir <dir>', 'cache directory', defaultCacheDir())
    .option('--no-cache', 'neither read nor write the cache')
    .option('--dry-run', 'print the plan (each stage, its cache key, hit or miss) and stop')
    .option('--json', 'machine-readable JSON lines on stdout')
    .addOption(new Option('--stop-after <stage>', 'stop after a stage; before pack, the tree is left at OUT/rootfs').choices(STAGE_NAMES))
    .option('--fast', 'fast, low compression (development builds)')
    .option('-v, --verbose', 'show the output of the tools (mmdebstrap, apt, tar)')
    .addOption(new Option('--bump <part>', 'take the next version from --repo: the latest published, bumped').choices(['patch', 'minor', 'major']))
    .option('--repo <dir>', 'apt repository to read the latest version from (with --bump)')
    .action(buildCommand);
  cmd.command('publish')
    .description('add .deb files to an apt repository and sign it; earlier versions stay installable unless --keep prunes them')
    .argument('[debs...]', '.deb files to add (none with --resign, --keep or --next-key)')
    .requiredOption('--repo <dir>', 'repository directory (created if missing)')
    .option('--suite <suite>', 'suite (dists/<suite>)', 'stable')
    .option('--component <component>', 'component', 'main')
    .option('--sign-key <keyid>', 'signing key (default: the only secret key in the keyring)')
    .option('--gnupg-home <dir>', 'GnuPG home holding the signing key')
    .option('--uri <url>', 'URL of the repository, written into the example .sources file')
    .option('--valid-for <duration>', 'how long apt accepts the signed Release (Valid-Until), e.g. 21d or 12h', '21d')
    .option('--resign', 'sign the repository again, with a new Date and Valid-Until, even when nothing else changed')
    .option('--next-key <file>', 'public key of the next signing key, carried by the keyring from now on (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--keep <n>', 'keep the newest N releases (host and image packages), prune older ones from the index and the pool')
    .option('--max-size <size>', 'refuse to add packages when the repository would grow beyond this, e.g. 1G')
    .option('--dry-run', 'print what would be added, pruned and signed; write nothing')
    .option('--json', 'print the result as JSON')
    .action(publishCommand);
  return cmd;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    const json = argv.includes('--json');
    const { text, data } = describeError(err);
    if (json) process.stdout.write(`${JSON.stringify({ event: 'error', ...data })}\n`);
    process.stderr.write(`${text}\n`);
    return exitCodeFor(err);
  }
}

process.exitCode = await main(process.argv);
