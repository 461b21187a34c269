// Every command of the builder, defined once with commander: the CLI parses with it, and the man
// page and the bash completion are generated from it (pipeline/docs/command-docs.ts).
import { Command, Option } from 'commander';
import { bashCompletion } from '../docs/command-docs.ts';
import { UsageError } from '../errors.ts';
import { BUILDER_VERSION } from '../package-root.ts';
import { ARCHITECTURES } from '../recipe/schema.ts';
import { STAGE_NAMES } from '../stage.ts';
import { buildCommand, defaultCacheDir } from './build.ts';
import { initCommand } from './init.ts';
import { diffCommand, outdatedCommand, type OutdatedFlags } from './inspect.ts';
import { publishCommand } from './publish.ts';

export function program(): Command {
  const cmd = new Command('ephemeral-builder')
    .description('Build throw-away GitLab Runner SSH build containers as release artifacts')
    .version(BUILDER_VERSION, '-V, --version', 'print the version of ephemeral-builder')
    .showHelpAfterError('(run with --help for usage)')
    // Program options only before the subcommand, so that `build --version 1.4.0` is the image version.
    .enablePositionalOptions()
    .exitOverride();
  cmd
    .command('build')
    .description('build an image and its artifacts from a recipe')
    .argument('[recipe]', 'recipe module', 'recipes/default.ts')
    .option('-o, --out <dir>', 'output directory', 'out')
    .option('--version <semver>', 'image version, overriding the recipe (X.Y.Z or X.Y.Z-rc.N)')
    .addOption(new Option('--architecture <arch>', "Debian architecture of the image and packages, overriding the recipe's").choices(ARCHITECTURES))
    .addOption(
      new Option('--cache-dir <dir>', 'cache directory').default(defaultCacheDir(), '$XDG_CACHE_HOME/ephemeral-builder, else ~/.cache/ephemeral-builder'),
    )
    .option('--no-cache', 'neither read nor write the cache')
    .option('--dry-run', 'print the plan (each stage, its cache key, hit or miss) and stop')
    .option('--json', 'machine-readable JSON lines on stdout')
    .addOption(new Option('--stop-after <stage>', 'stop after a stage; before pack, the tree is left at OUT/rootfs').choices(STAGE_NAMES))
    .option('--fast', 'fast, low compression (development builds)')
    .option('-v, --verbose', 'show the output of the tools (mmdebstrap, apt, tar)')
    .addOption(new Option('--bump <part>', 'take the next version from --repo: the latest published, bumped').choices(['patch', 'minor', 'major']))
    .option('--repo <dir>', 'apt repository to read the latest version from (with --bump)')
    .action(buildCommand);
  cmd
    .command('publish')
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
    .option(
      '--next-key <file>',
      'public key of the next signing key, carried by the keyring from now on (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--keep <n>', 'keep the newest N releases (host and image packages), prune older ones from the index and the pool')
    .option('--max-size <size>', 'refuse to add packages when the repository would grow beyond this, e.g. 1G')
    .option('--dry-run', 'print what would be added, pruned and signed; write nothing')
    .option('--json', 'print the result as JSON')
    .action(publishCommand);
  cmd
    .command('outdated')
    .description('list the packages of an image that its sources now have newer, marking security fixes')
    .argument('[image]', 'manifest.json (file or release URL), image .deb, installed image directory, or a recipe (its build in --out)', 'out/manifest.json')
    .option('--json', 'print the report as JSON')
    .option('-o, --output <file>', 'write the report to a file (whole or not at all) instead of stdout')
    .option('--out <dir>', "where a recipe's build is, when IMAGE is a recipe", 'out')
    .option('--rewrite <from=to>', 'read the source FROM at TO (a mirror, or a file:// directory); repeatable', (v: string, all: string[]) => [...all, v], [])
    .addHelpText('after', '\nExit status: 0 nothing is behind, 1 some package is behind, 2 an error (unreadable image, unreachable source).')
    .action(async (image: string, flags: OutdatedFlags) => {
      process.exitCode = await outdatedCommand(image, flags);
    });
  cmd
    .command('diff')
    .description('what changed between two images: packages, size, files, recipe (Markdown for release notes, or JSON)')
    .argument('<a>', 'the older image: manifest.json (file or release URL), image .deb, or installed image directory')
    .argument('<b>', 'the newer image, in any of those forms')
    .option('--json', 'print the difference as JSON (sorted, stable)')
    .option('-o, --output <file>', 'write it to a file (whole or not at all) instead of stdout')
    .action(diffCommand);
  cmd
    .command('init')
    .description('start a repository of your own: package.json pinning this builder, a recipe, an example overlay, setup.sh, .gitlab-ci.yml')
    .argument('[dir]', 'where (created if missing; existing files are never overwritten)', '.')
    .option('--name <name>', "the image's name (default: from the directory)")
    .action(initCommand);
  cmd
    .command('completion')
    .description('print the bash completion script; install it with `ephemeral-builder completion > /etc/bash_completion.d/ephemeral-builder`')
    .argument('[shell]', 'the shell to complete in (bash)', 'bash')
    .action((shell: string) => {
      if (shell !== 'bash') throw new UsageError(`completion: no completion for ${JSON.stringify(shell)}; bash is the one there is`);
      process.stdout.write(bashCompletion(cmd));
    });
  return cmd;
}
