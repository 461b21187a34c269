// The `publish` command: adds .deb files to an apt repository, signs it again, prunes it to the
// newest releases (pipeline/publish), and prints what it did, or JSON.
import { UsageError } from '../errors.ts';
import { publish } from '../publish/publish.ts';
import { parseDuration, parseSize } from '../publish/quantities.ts';
import { publishReport } from '../ui/publish-report.ts';

export interface PublishFlags {
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

export async function publishCommand(debs: string[], flags: PublishFlags): Promise<void> {
  if (flags.keep !== undefined && !/^[0-9]+$/.test(flags.keep)) throw new UsageError(`--keep ${flags.keep}: give a number of releases to keep (1 or more)`);
  const result = await publish(
    {
      repoDir: flags.repo,
      suite: flags.suite,
      component: flags.component,
      signKey: flags.signKey,
      gnupgHome: flags.gnupgHome,
      sourcesUri: flags.uri,
      debs,
      validFor: parseDuration(flags.validFor, '--valid-for'),
      nextKeys: flags.nextKey,
      resign: flags.resign,
      keep: flags.keep === undefined ? undefined : Number(flags.keep),
      maxSize: flags.maxSize === undefined ? undefined : parseSize(flags.maxSize, '--max-size'),
      dryRun: flags.dryRun,
    },
    (line) => process.stderr.write(`${line}\n`),
  );
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(
    publishReport(result)
      .map((l) => `${l}\n`)
      .join(''),
  );
}
