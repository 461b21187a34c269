// recipes/default.ts, built as CI builds a release (`build --fast`, the shared test cache), is
// patched: no package in its manifest is older than the same package in trixie-security or
// trixie-updates, read here straight from the mirror's indexes and compared with dpkg's own
// version order. (Built from trixie alone, an image had 19 packages behind trixie-security on the
// day this was written.)
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.ts';
import { packagesBehind } from '../helpers/debian-index.ts';
import { describeWith } from '../helpers/env.ts';
import { TEST_CACHE } from '../helpers/paths.ts';

interface Manifest {
  architecture: string;
  image: { packages: { name: string; version: string; architecture: string }[] };
  sources: { name: string; uri: string; suite: string; components: string[] }[];
}

describeWith({ root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'ssh', 'dpkg', 'xz'] }, 'build recipes/default.ts', () => {
  const out = tempDir('default');
  let manifest: Manifest;
  beforeAll(async () => {
    const r = await runCli(['build', 'recipes/default.ts', '--fast', '--out', out, '--cache-dir', TEST_CACHE]);
    if (r.exitCode !== 0) throw new Error(`build failed (${r.exitCode}):\n${r.stderr}`);
    manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
  });
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('is built from trixie, trixie-updates and trixie-security', () => {
    expect(manifest.sources.map((s) => `${s.suite} ${s.uri}`)).toEqual([
      'trixie http://deb.debian.org/debian', 'trixie-updates http://deb.debian.org/debian', 'trixie-security http://deb.debian.org/debian-security',
    ]);
  });

  it('has no package older than the same package in trixie-security or trixie-updates', async () => {
    const behind: string[] = [];
    let compared = 0;
    for (const source of manifest.sources.filter((s) => s.name === 'debian-security' || s.name === 'debian-updates')) {
      const found = await packagesBehind(manifest.image.packages, source.uri, source.suite, manifest.architecture);
      behind.push(...found.behind);
      compared += found.compared;
    }
    expect(behind).toEqual([]);
    // Not vacuous: the image's packages (libc, openssl, krb5, php…) do appear in those suites.
    console.log(`compared ${compared} package versions with trixie-security and trixie-updates`);
    expect(compared).toBeGreaterThan(0);
  });
});
