// `outdated` and `diff` through the real CLI, without building: outdated on the manifest of a
// default image built before images had the security suite (a fixture, format 1) against the real
// mirror, and against local mirror directories whose versions the test decides (file:// through
// --rewrite, offline); diff of two manifests; and the bad input each must refuse with exit 2.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.ts';
import { indexVersions } from '../helpers/debian-index.ts';
import { describeWith } from '../helpers/env.ts';
import { writeFixtureSuite, type FixturePackage } from '../helpers/fixture-mirror.ts';
import { REPO } from '../helpers/paths.ts';

const OLD = path.join(REPO, 'test/fixtures/manifests/default-1.0.0-trixie-only.json');

interface Report {
  packages: { name: string; installed: string; available: string; suite: string; security: boolean }[];
}

/** A format-2 manifest of an image with these packages, built from three local suites. */
function manifest(dir: string, name: string, packages: FixturePackage[], extra: Record<string, unknown> = {}): string {
  const file = path.join(dir, `${name}-manifest.json`);
  const sources = ['trixie', 'trixie-updates', 'trixie-security'].map((suite) => ({
    name: suite,
    uri: suite === 'trixie-security' ? 'http://deb.debian.org/debian-security' : 'http://deb.debian.org/debian',
    suite,
    components: ['main'],
    inReleaseSha256: '0'.repeat(64),
  }));
  fs.writeFileSync(
    file,
    JSON.stringify({
      format: 2,
      name,
      version: '1.0.0',
      architecture: 'amd64',
      sourceDateEpoch: 1_764_000_000,
      recipe: { digest: 'r'.repeat(64) },
      sources,
      image: { treeDigest: 't'.repeat(64), sizeBytes: 1_000_000, fileCount: 100, packages: packages.map((p) => ({ architecture: 'amd64', ...p })) },
      ...extra,
    }),
  );
  return file;
}

/** Paths of objects whose keys are not in sorted order. */
function unsortedKeys(v: unknown, at = '$'): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => unsortedKeys(x, `${at}[${i}]`));
  if (!v || typeof v !== 'object') return [];
  const keys = Object.keys(v);
  return [...(keys.join() === [...keys].sort().join() ? [] : [at]), ...keys.flatMap((k) => unsortedKeys((v as Record<string, unknown>)[k], `${at}.${k}`))];
}

describeWith({ tools: ['xz', 'dpkg'] }, 'outdated and diff', () => {
  const work = tempDir('inspect');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  describe('outdated, against the real mirror', () => {
    let report: Report;
    let human: Awaited<ReturnType<typeof runCli>>;
    beforeAll(async () => {
      const json = await runCli(['outdated', OLD, '--json']);
      expect(json.exitCode, json.stderr).toBe(1);
      report = JSON.parse(json.stdout) as Report;
      human = await runCli(['outdated', OLD]);
    });

    it('lists what trixie-security has newer for an image built from trixie alone, with exit 1', async () => {
      expect(human.exitCode).toBe(1);
      // libzstd1 1.5.7+dfsg-1 was fixed in trixie-security (+deb13u1) before this fixture was made.
      expect(report.packages).toContainEqual(
        expect.objectContaining({ name: 'libzstd1', installed: '1.5.7+dfsg-1', suite: 'trixie-security', security: true }),
      );
      expect(human.stdout).toMatch(/^libzstd1 +1\.5\.7\+dfsg-1 +\S+ +trixie-security +SECURITY$/m);
      // Every entry: dpkg agrees it is newer, and the suite it names has that version.
      const security = await indexVersions('http://deb.debian.org/debian-security', 'trixie-security', 'main', 'amd64');
      for (const p of report.packages) {
        expect((await execa('dpkg', ['--compare-versions', p.available, 'gt', p.installed], { reject: false })).exitCode, p.name).toBe(0);
        if (p.security) expect(security.get(p.name), p.name).toBe(p.available);
      }
    });
  });

  describe('outdated, offline against local mirror directories', () => {
    const installed: FixturePackage[] = [
      { name: 'libzstd1', version: '1.5.7+dfsg-1' },
      { name: 'openssh-server', version: '1:10.0p1-7' },
      { name: 'tzdata', version: '2025b-4' },
    ];
    const mirrors = (root: string, updates: FixturePackage[], security: FixturePackage[]) => {
      writeFixtureSuite(path.join(root, 'debian'), 'trixie', installed, { codename: 'trixie' });
      writeFixtureSuite(path.join(root, 'debian'), 'trixie-updates', updates, { codename: 'trixie-updates' });
      writeFixtureSuite(path.join(root, 'debian-security'), 'trixie-security', security, { codename: 'trixie-security' });
      return [
        '--rewrite',
        `http://deb.debian.org/debian=file://${root}/debian`,
        '--rewrite',
        `http://deb.debian.org/debian-security=file://${root}/debian-security`,
      ];
    };

    it('says nothing is behind, with exit 0, when the mirror has nothing newer', async () => {
      const image = manifest(work, 'current', installed);
      const r = await runCli(['outdated', image, ...mirrors(path.join(work, 'same'), [], [{ name: 'libzstd1', version: '1.5.7+dfsg-1' }])]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('current 1.0.0: nothing behind (trixie, trixie-updates, trixie-security)');
    });

    it('marks a security fix, and an update that is not one', async () => {
      const image = manifest(work, 'current', installed);
      const rewrites = mirrors(
        path.join(work, 'bumped'),
        [{ name: 'tzdata', version: '2025c-0+deb13u1' }],
        [{ name: 'openssh-server', version: '1:10.0p1-7+deb13u1' }],
      );
      const r = await runCli(['outdated', image, '--json', ...rewrites]);
      expect(r.exitCode, r.stderr).toBe(1);
      expect((JSON.parse(r.stdout) as Report).packages).toEqual([
        expect.objectContaining({ name: 'openssh-server', installed: '1:10.0p1-7', available: '1:10.0p1-7+deb13u1', suite: 'trixie-security', security: true }),
        expect.objectContaining({ name: 'tzdata', installed: '2025b-4', available: '2025c-0+deb13u1', suite: 'trixie-updates', security: false }),
      ]);
    });
  });

  describe('diff', () => {
    it('lists upgraded, downgraded, added and removed packages, and size and file changes, as sorted JSON', async () => {
      const a = manifest(work, 'img', [
        { name: 'b', version: '1.0' },
        { name: 'a', version: '2.0' },
        { name: 'gone', version: '1' },
        { name: 'c', version: '1:1.0' },
      ]);
      const b = manifest(
        work,
        'img2',
        [
          { name: 'c', version: '1.0' },
          { name: 'a', version: '2.0~rc1' },
          { name: 'b', version: '1.0+deb13u1' },
          { name: 'new', version: '3' },
        ],
        {
          name: 'img',
          version: '1.0.1',
          recipe: { digest: 'x'.repeat(64) },
          image: {
            sizeBytes: 1_500_000,
            fileCount: 90,
            treeDigest: 'u'.repeat(64),
            packages: [
              { name: 'c', version: '1.0', architecture: 'amd64' },
              { name: 'new', version: '3', architecture: 'amd64' },
              { name: 'a', version: '2.0~rc1', architecture: 'amd64' },
              { name: 'b', version: '1.0+deb13u1', architecture: 'amd64' },
            ],
          },
        },
      );
      const r = await runCli(['diff', a, b, '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const d = JSON.parse(r.stdout);
      expect(d).toMatchObject({
        from: { name: 'img', version: '1.0.0' },
        to: { name: 'img', version: '1.0.1' },
        recipeChanged: true,
        sizeBytes: { from: 1_000_000, to: 1_500_000, change: 500_000 },
        fileCount: { from: 100, to: 90, change: -10 },
        upgraded: [{ name: 'b', from: '1.0', to: '1.0+deb13u1' }],
        // 1:1.0 → 1.0 drops an epoch; 2.0 → 2.0~rc1: ~ sorts before the release.
        downgraded: [
          { name: 'a', from: '2.0', to: '2.0~rc1' },
          { name: 'c', from: '1:1.0', to: '1.0' },
        ],
        added: [{ name: 'new', to: '3' }],
        removed: [{ name: 'gone', from: '1' }],
        warnings: [],
      });
      // Stable: sorted keys, the same bytes every time.
      expect(unsortedKeys(d)).toEqual([]);
      expect((await runCli(['diff', a, b, '--json'])).stdout).toBe(r.stdout);
      const md = await runCli(['diff', a, b]);
      expect(md.stdout).toContain('## img 1.0.0 → 1.0.1\n');
      expect(md.stdout).toContain(
        '- Packages: 1 upgraded, 2 downgraded, 1 added, 1 removed\n- Recipe: changed\n- Size: 1.0 MB → 1.5 MB (+0.5 MB)\n- Files: 100 → 90 (−10)\n',
      );
      expect(md.stdout).toContain('### Upgraded (1)\n\n| package | from | to |\n| --- | --- | --- |\n| b | `1.0` | `1.0+deb13u1` |\n');
    });

    it('warns, and still compares, when the two images are different ones', async () => {
      const a = manifest(work, 'one', [{ name: 'x', version: '1' }]);
      const b = manifest(work, 'two', [{ name: 'x', version: '2' }]);
      const r = await runCli(['diff', a, b]);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toContain(`warning: comparing two different images: one (${a}) and two (${b})`);
      expect(r.stdout).toContain('> **Warning:** comparing two different images');
    });
  });

  describe('bad input: a clear message, exit 2, no output file', () => {
    const output = () => path.join(work, 'report.txt');
    const refused = async (args: string[]) => {
      const r = await runCli([...args, '--output', output()]);
      expect(r.exitCode).toBe(2);
      expect(fs.existsSync(output())).toBe(false);
      return r.stderr;
    };

    it('refuses a file that is not a manifest, and one that is not there', async () => {
      expect(await refused(['outdated', path.join(REPO, 'package.json')])).toContain('package.json: not an ephemeral-builder manifest');
      expect(await refused(['outdated', path.join(work, 'nope.json')])).toContain('nope.json: no such file or directory');
      expect(await refused(['diff', path.join(REPO, 'tsconfig.json'), OLD])).toContain('tsconfig.json: not an ephemeral-builder manifest');
    });

    it('refuses an address that is not an http(s) URL', async () => {
      expect(await refused(['outdated', 'ftp://releases.example/manifest.json'])).toContain(
        'ftp://releases.example/manifest.json: not a file, a directory or an http(s) URL',
      );
    });

    it('fails with exit 2 (not 1, which means "behind") when a source cannot be reached', async () => {
      const port = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const { port: p } = s.address() as net.AddressInfo;
          s.close(() => resolve(p));
        });
      });
      const r = await runCli(['outdated', OLD, '--rewrite', `http://deb.debian.org/debian=http://127.0.0.1:${port}/debian`, '--output', output()], {
        env: { EB_FETCH_ATTEMPTS: '2', EB_FETCH_BACKOFF_MS: '10' },
      });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(`cannot fetch http://127.0.0.1:${port}/debian/dists/trixie/InRelease: ECONNREFUSED`);
      expect(fs.existsSync(output())).toBe(false);
    });
  });
});
