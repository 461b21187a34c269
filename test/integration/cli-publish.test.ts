// `ephemeral-builder publish` and `build --bump` through the real CLI: publishing adds versions,
// refuses a changed package under an old version (exit 2), --dry-run prints the plan and writes
// nothing, bad option values are refused with the fix (exit 2), and --bump reads the next version
// from what the repository holds.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildFixtureDeb } from '../e2e/harness/fixture-deb.ts';
import { makeSigningKey, type SigningKey } from '../e2e/harness/gpg-key.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { TEST_CACHE } from '../helpers/paths.ts';

describeWith({ tools: ['gpg', 'gpgv', 'dpkg-deb', 'xz'] }, 'CLI publish and --bump', () => {
  const tmp = tempDir('cli-publish');
  const repo = path.join(tmp, 'repo');
  let key: SigningKey;
  beforeAll(async () => {
    key = await makeSigningKey();
  });
  afterAll(async () => {
    await key.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const deb = (version: string, body: string, suffix = '') =>
    buildFixtureDeb(tmp, { name: 'ephemeral-builder', version, files: { '/usr/share/eb-test/release': body } }, suffix);

  it('adds packages and keeps earlier versions', async () => {
    const first = await runCli(['publish', '--repo', repo, '--gnupg-home', key.gnupgHome, await deb('1.0.0', 'one')]);
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toMatch(/^added ephemeral-builder 1\.0\.0 all: pool\/main\/e\/ephemeral-builder\/ephemeral-builder_1\.0\.0_all\.deb$/m);
    const second = await runCli(['publish', '--repo', repo, '--gnupg-home', key.gnupgHome, await deb('1.4.0~rc.1', 'rc')]);
    expect(second.exitCode).toBe(0);
    const packages = fs.readFileSync(path.join(repo, 'dists/stable/main/binary-amd64/Packages'), 'utf8');
    expect(packages.match(/^Package: .*\nVersion: .*$/gm)).toEqual([
      'Package: ephemeral-builder\nVersion: 1.0.0',
      'Package: ephemeral-builder\nVersion: 1.4.0~rc.1',
      'Package: ephemeral-builder-archive-keyring\nVersion: 1',
    ]);
    expect(fs.existsSync(path.join(repo, 'ephemeral-builder-archive-keyring.gpg'))).toBe(true);
    expect(second.stdout).toMatch(new RegExp(`^key ${key.fingerprint}: signs, expires `, 'm'));
    expect(second.stdout).toMatch(/^signed dists\/stable\/InRelease with [0-9A-F]{40}: Date .* UTC, Valid-Until .* UTC$/m);
    expect(second.stdout).toMatch(/^repository: \d+ files, [\d.]+ KiB \(was [\d.]+ KiB; no limit\)$/m);
  });

  it('--dry-run prints what would be added, pruned and signed, and writes nothing', async () => {
    const before = fs
      .readdirSync(repo, { recursive: true, encoding: 'utf8' })
      .sort()
      .map((f) => `${f} ${fs.statSync(path.join(repo, f)).mtimeMs}`);
    const r = await runCli([
      'publish',
      '--repo',
      repo,
      '--gnupg-home',
      key.gnupgHome,
      '--keep',
      '1',
      '--max-size',
      '1G',
      '--dry-run',
      await deb('1.4.0', 'final'),
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^would add ephemeral-builder 1\.4\.0 all: pool\/main\/e\/ephemeral-builder\/ephemeral-builder_1\.4\.0_all\.deb$/m);
    expect(r.stdout).toMatch(/^would prune ephemeral-builder 1\.4\.0~rc\.1: pool\/main\/e\/ephemeral-builder\/ephemeral-builder_1\.4\.0~rc\.1_all\.deb$/m);
    expect(r.stdout).toMatch(/^ {2}hosts pinned to 1\.0\.0 \(apt-get install ephemeral-builder=1\.0\.0, or an apt preference\) can no longer install it/m);
    expect(r.stdout).toMatch(/^would keep ephemeral-builder 1\.4\.0$/m);
    expect(r.stdout).toMatch(/^would sign dists\/stable\/InRelease with /m);
    expect(r.stdout).toMatch(/after this publish \(signatures estimated\) \(was [\d.]+ KiB; limit 1\.0 GiB\)$/m);
    const after = fs
      .readdirSync(repo, { recursive: true, encoding: 'utf8' })
      .sort()
      .map((f) => `${f} ${fs.statSync(path.join(repo, f)).mtimeMs}`);
    expect(after).toEqual(before);
  });

  it('refuses bad option values and an empty request with the fix, exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--keep', 'all'], /--keep all: give a number of releases to keep/],
      [['--keep', '0'], /--keep 0: keep at least the newest version/],
      [['--valid-for', '3 weeks'], /--valid-for: "3 weeks" is not a duration; write it as 21d/],
      [['--max-size', '1GB', '--resign'], /--max-size: "1GB" is not a size; write it as 512M, 1G/],
      [[], /nothing to do: give \.deb files, --resign, --keep or --next-key/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['publish', '--repo', repo, '--gnupg-home', key.gnupgHome, ...args]);
      expect({ args, code: r.exitCode }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
    }
  });

  it('refuses the same version with different content, and leaves the repository as it was', async () => {
    const before = fs.readFileSync(path.join(repo, 'dists/stable/InRelease'));
    const r = await runCli(['publish', '--repo', repo, '--gnupg-home', key.gnupgHome, await deb('1.0.0', 'changed', '-b')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/ephemeral-builder 1\.0\.0/);
    expect(fs.readFileSync(path.join(repo, 'dists/stable/InRelease')).equals(before)).toBe(true);
  });

  it('build --bump takes the next version from the repository', async () => {
    const plan = async (bump: string) => {
      const r = await runCli(['build', 'recipes/minimal.ts', '--dry-run', '--json', '--bump', bump, '--repo', repo, '--cache-dir', TEST_CACHE]);
      expect(r.exitCode).toBe(0);
      return (JSON.parse(r.stdout.split('\n').find((l) => l.includes('"plan"')) as string) as { plan: { recipe: { version: string } } }).plan.recipe.version;
    };
    // The highest published is 1.4.0-rc.1: a patch bump releases it, minor and major move on.
    expect(await plan('patch')).toBe('1.4.0');
    expect(await plan('minor')).toBe('1.4.0');
    expect(await plan('major')).toBe('2.0.0');
  });

  it('refuses --bump without --repo', async () => {
    const r = await runCli(['build', 'recipes/minimal.ts', '--bump', 'patch']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--bump needs --repo DIR');
  });
});
