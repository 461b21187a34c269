// The `publish` command: adds .deb files to an apt repository (pipeline/publish) and prints what
// it added, or JSON.
import { publish } from '../publish/publish.ts';

export interface PublishFlags {
  repo: string;
  suite: string;
  component: string;
  signKey?: string;
  gnupgHome?: string;
  uri?: string;
  json?: boolean;
}

export async function publishCommand(debs: string[], flags: PublishFlags): Promise<void> {
  const result = await publish({
    repoDir: flags.repo, suite: flags.suite, component: flags.component, signKey: flags.signKey,
    gnupgHome: flags.gnupgHome, sourcesUri: flags.uri, debs,
  }, (line) => process.stderr.write(`${line}\n`));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  for (const p of result.added) process.stdout.write(`added ${p.package} ${p.version} ${p.architecture}: ${p.filename}\n`);
  for (const p of result.unchanged) process.stdout.write(`unchanged ${p.package} ${p.version} ${p.architecture}\n`);
  process.stdout.write(`keyring: ${result.keyring}\nsources: ${result.sources}\n`);
}
