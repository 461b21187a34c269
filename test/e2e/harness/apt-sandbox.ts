// apt-get and apt-cache on this machine, confined to a temporary configuration: their own
// sources, lists, cache and an empty dpkg status, and NO trusted keys except the Signed-By file
// a sources entry names. So a repository passes only if its own signature and keyring are right.
// Nothing is ever installed on this machine: `download` and `policy` only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface AptResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface AptSandbox {
  dir: string;
  /** Replaces the sources with this deb822 text. */
  setSources(text: string): void;
  aptGet(args: string[], cwd?: string): Promise<AptResult>;
  aptCache(args: string[]): Promise<AptResult>;
  /** apt-get download into a fresh directory; returns the files it wrote. */
  download(spec: string): Promise<{ result: AptResult; files: string[] }>;
  dispose(): void;
}

export function makeAptSandbox(): AptSandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-apt-'));
  for (const sub of [
    'etc/apt.conf.d',
    'etc/sources.list.d',
    'etc/trusted.gpg.d',
    'etc/preferences.d',
    'state/lists/partial',
    'cache/archives/partial',
    'log',
    'downloads',
  ]) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  }
  fs.writeFileSync(path.join(dir, 'etc/sources.list'), '');
  fs.writeFileSync(path.join(dir, 'state/status'), '');
  const config = path.join(dir, 'apt.conf');
  fs.writeFileSync(
    config,
    [
      `Dir::Etc "${dir}/etc";`,
      'Dir::Etc::SourceList "sources.list";',
      'Dir::Etc::SourceParts "sources.list.d";',
      'Dir::Etc::Trusted "trusted.gpg";',
      'Dir::Etc::TrustedParts "trusted.gpg.d";',
      'Dir::Etc::Preferences "preferences";',
      'Dir::Etc::PreferencesParts "preferences.d";',
      'Dir::Etc::Parts "apt.conf.d";',
      `Dir::State "${dir}/state";`,
      `Dir::State::status "${dir}/state/status";`,
      `Dir::Cache "${dir}/cache";`,
      `Dir::Log "${dir}/log";`,
      // The temporary directories are root's; the _apt sandbox user could not write them.
      'APT::Sandbox::User "root";',
      'Acquire::Languages "none";',
      'Acquire::Retries "0";',
      '',
    ].join('\n'),
  );
  const env = { APT_CONFIG: config, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };
  const run = async (cmd: string, args: string[], cwd?: string): Promise<AptResult> => {
    const r = await execa(cmd, args, { env, reject: false, cwd, stdin: 'ignore' });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  };
  let downloads = 0;
  return {
    dir,
    setSources(text) {
      for (const f of fs.readdirSync(path.join(dir, 'etc/sources.list.d'))) fs.rmSync(path.join(dir, 'etc/sources.list.d', f));
      fs.writeFileSync(path.join(dir, 'etc/sources.list.d/test.sources'), text);
    },
    aptGet: (args, cwd) => run('apt-get', args, cwd),
    aptCache: (args) => run('apt-cache', args),
    async download(spec) {
      const into = path.join(dir, 'downloads', String(downloads++));
      fs.mkdirSync(into);
      const result = await run('apt-get', ['download', spec], into);
      return { result, files: fs.readdirSync(into).map((f) => path.join(into, f)) };
    },
    dispose() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
