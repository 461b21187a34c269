// The host tool's image commands against a scratch root (EB_ROOT) with image trees made here:
// status and versions show each image's date and age from its image.env ("date unknown" without
// one); outdated asks this machine's real apt-get about a local mirror served on loopback, whose
// InRelease files are signed by a throwaway key that only the image's own keyring holds (so apt
// must read the keyring the image's Signed-By names inside the image, not at that path here):
// what is behind, from which suite (by codename), which are security fixes, exit 0, 1 or 2, the
// same table as the builder's `outdated`, nothing in the image changed, no temporary directory
// left, also when apt fails.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clearsign, exportPublicKey } from '../../pipeline/publish/gpg.ts';
import { renderHostFiles } from '../../pipeline/host-package/render.ts';
import { disposeTrackedKeys, trackedSigningKey, type SigningKey } from '../e2e/harness/gpg-key.ts';
import { runCli } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import type { FixturePackage } from '../helpers/fixture-mirror.ts';
import { serveDirectory, type StaticServer } from '../helpers/http-server.ts';
import { ctl, newHostRoot, snapshotTree, tempDir, testRecipe, writeFakeImage, writeHostFiles } from './host-fixture.ts';

const NAME = 'ebtest';
const DAY = 86_400;
const KEYRING = '/usr/share/keyrings/ebtest-mirror.gpg';
/** 10 days and an hour ago: "10 days old" whenever the test runs. */
const TEN_DAYS_AGO = Math.floor(Date.now() / 1000) - 10 * DAY - 3600;

/** The suites as Debian names them: apt shows "Label:Version/Suite", the image's sources the codename. */
const SUITES = [
  {
    dir: 'trixie',
    suite: 'stable',
    label: 'Debian',
    version: '13.8',
    packages: [
      { name: 'base-files', version: '13.8' },
      { name: 'bar', version: '2.0-2' },
      { name: 'libfoo', version: '1.0-1' },
      // After a point release, a security fix is in the suite too: still a security fix.
      { name: 'libsame', version: '3.0-1+deb13u1' },
    ],
  },
  {
    dir: 'trixie-security',
    suite: 'stable-security',
    label: 'Debian-Security',
    version: '13',
    packages: [
      { name: 'libfoo', version: '1.0-1+deb13u1' },
      { name: 'libsame', version: '3.0-1+deb13u1' },
    ],
  },
];

/** What the image's dpkg records: behind (1.0.0) or at the mirror's newest (1.1.0). */
const INSTALLED: Record<string, FixturePackage[]> = {
  '1.0.0': [
    { name: 'bar', version: '2.0-1' },
    { name: 'base-files', version: '13.8' },
    { name: 'libfoo', version: '1.0-1' },
    { name: 'libsame', version: '3.0-1' },
  ],
  '1.1.0': [
    { name: 'bar', version: '2.0-2' },
    { name: 'base-files', version: '13.8' },
    { name: 'libfoo', version: '1.0-1+deb13u1' },
    { name: 'libsame', version: '3.0-1+deb13u1' },
  ],
};

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * dists/<dir>/ as Debian publishes it: Packages (with the Size and SHA256 apt wants of a version
 * it could download) and Packages.xz, both in an InRelease clearsigned by `key`.
 */
async function writeSignedSuite(root: string, s: (typeof SUITES)[number], key: SigningKey): Promise<void> {
  const dir = path.join(root, 'dists', s.dir);
  fs.mkdirSync(path.join(dir, 'main/binary-amd64'), { recursive: true });
  const packages = s.packages
    .map(
      (p) =>
        `Package: ${p.name}\nVersion: ${p.version}\nArchitecture: amd64\nMaintainer: Test <test@example.org>\n` +
        `Filename: pool/main/${p.name}_${p.version}_amd64.deb\nSize: 1000\nSHA256: ${sha256(`${p.name} ${p.version}`)}\nDescription: ${p.name}\n`,
    )
    .join('\n');
  const xz = Buffer.from((await execa('xz', ['-c'], { input: packages, encoding: 'buffer' })).stdout);
  fs.writeFileSync(path.join(dir, 'main/binary-amd64/Packages'), packages);
  fs.writeFileSync(path.join(dir, 'main/binary-amd64/Packages.xz'), xz);
  const release = [
    `Origin: Debian`,
    `Label: ${s.label}`,
    `Suite: ${s.suite}`,
    `Version: ${s.version}`,
    `Codename: ${s.dir}`,
    `Date: ${new Date(Date.now() - DAY * 1000).toUTCString()}`,
    'Architectures: amd64',
    'Components: main',
    'SHA256:',
    ` ${sha256(packages)} ${Buffer.byteLength(packages)} main/binary-amd64/Packages`,
    ` ${sha256(xz)} ${xz.length} main/binary-amd64/Packages.xz`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'InRelease'), `${await clearsign({ gnupgHome: key.gnupgHome }, key.fingerprint, release)}\n`);
}

function dpkgStatus(packages: FixturePackage[]): string {
  return packages
    .map(
      (p) =>
        `Package: ${p.name}\nStatus: install ok installed\nPriority: optional\nMaintainer: Test <test@example.org>\nArchitecture: amd64\nVersion: ${p.version}\nDescription: ${p.name}\n`,
    )
    .join('\n');
}

describeWith({ root: true, tools: ['apt-get', 'gpg', 'xz', 'dpkg-query'] }, 'the host tool: image dates, versions and outdated', () => {
  const cleanup: string[] = [];
  let root: string;
  let mirror: StaticServer;
  let key: SigningKey;
  let other: SigningKey;
  const images = () => path.join(root, 'usr/lib', NAME, 'images');

  /** An image that install.sh would accept, with a dpkg status, deb822 sources and keyring, and image.env unless `date` is null. */
  function writeImage(
    version: string,
    o: { packages?: FixturePackage[]; uri?: string; keyring?: Buffer; date?: number | null; sources?: boolean } = {},
  ): string {
    const dir = path.join(images(), version);
    writeFakeImage(dir);
    const put = (file: string, content: string | Buffer) => {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), content);
    };
    put('var/lib/dpkg/status', dpkgStatus(o.packages ?? INSTALLED['1.1.0']!));
    if (o.sources !== false) {
      put(
        'etc/apt/sources.list.d/debian.sources',
        `Types: deb\nURIs: ${o.uri ?? mirror.url}\nSuites: trixie trixie-security\nComponents: main\nSigned-By: ${KEYRING}\n`,
      );
    }
    if (o.keyring) put(KEYRING, o.keyring);
    if (o.date !== null) {
      const date = o.date ?? TEN_DAYS_AGO;
      put('usr/share/ephemeral-builder/image.env', `IMAGE_NAME=${NAME}\nIMAGE_VERSION=${version}\nIMAGE_ARCHITECTURE=amd64\nIMAGE_DATE=${date}\n`);
    }
    return dir;
  }

  const useImage = (version: string) => {
    const link = path.join(root, 'var/lib', NAME, 'current');
    fs.rmSync(link, { force: true });
    fs.symlinkSync(`../../../usr/lib/${NAME}/images/${version}`, link);
  };

  /** ctl outdated with a TMPDIR of its own, and what is left in it afterwards. */
  async function outdated(args: string[] = []) {
    const tmp = tempDir('eb-outdated-tmp');
    cleanup.push(tmp);
    // As /tmp is for apt's own user, _apt, which downloads into it.
    fs.chmodSync(tmp, 0o755);
    const res = await ctl(root, NAME, ['outdated', ...args], { TMPDIR: tmp });
    return { res, left: fs.readdirSync(tmp) };
  }

  beforeAll(async () => {
    [key, other] = await Promise.all([trackedSigningKey('test mirror <mirror@example.invalid>'), trackedSigningKey('someone else <other@example.invalid>')]);
    const dir = tempDir('eb-mirror');
    cleanup.push(dir);
    for (const s of SUITES) await writeSignedSuite(dir, s, key);
    mirror = await serveDirectory(dir);
    root = newHostRoot();
    cleanup.push(root);
    // apt reads the keyring as its own user, _apt, through every directory above it.
    fs.chmodSync(root, 0o755);
    writeHostFiles(root, renderHostFiles(testRecipe({ name: NAME })));
    const keyring = await exportPublicKey({ gnupgHome: key.gnupgHome }, key.fingerprint);
    writeImage('0.9.0', { date: null, sources: false });
    writeImage('1.0.0', { packages: INSTALLED['1.0.0'], keyring });
    writeImage('1.1.0', { keyring, date: TEN_DAYS_AGO + 9 * DAY });
    writeImage('1.2.0', { keyring: await exportPublicKey({ gnupgHome: other.gnupgHome }, other.fingerprint) });
    // A mirror without these suites (a refused connection is the same failure, after apt's retries).
    writeImage('1.3.0', { keyring, uri: `${mirror.url}elsewhere/` });
    fs.mkdirSync(path.join(root, 'var/lib', NAME), { recursive: true });
    useImage('1.0.0');
    fs.symlinkSync(`../../../usr/lib/${NAME}/images/0.9.0`, path.join(root, 'var/lib', NAME, 'previous'));
  });

  afterAll(async () => {
    await mirror?.close();
    await disposeTrackedKeys();
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  });

  it("status shows the current image's date and age, or that an image has none", async () => {
    const date = new Date(TEN_DAYS_AGO * 1000).toISOString().slice(0, 16).replace('T', ' ');
    const res = await ctl(root, NAME, ['status']);
    expect(res.exitCode, res.all).toBe(0);
    expect(res.stdout).toMatch(/^current: {4}1\.0\.0$/m);
    expect(res.stdout).toContain(`\nimage date: ${date} UTC, 10 days old ('${NAME}ctl outdated' checks for newer packages)\n`);
    useImage('0.9.0');
    try {
      expect((await ctl(root, NAME, ['status'])).stdout).toContain('\nimage date: unknown (image 0.9.0 was built before images recorded their date)\n');
    } finally {
      useImage('1.0.0');
    }
  });

  it('versions lists every image with its date and age, oldest version first, current and previous marked', async () => {
    const res = await ctl(root, NAME, ['versions']);
    expect(res.exitCode, res.all).toBe(0);
    const day = (t: number) => new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ');
    expect(res.stdout.split('\n').map((l) => l.trimEnd())).toEqual([
      'VERSION          DATE                  AGE       STATE',
      '0.9.0            date unknown                    previous',
      `1.0.0            ${day(TEN_DAYS_AGO)} UTC  10 days   current`,
      `1.1.0            ${day(TEN_DAYS_AGO + 9 * DAY)} UTC  1 day     -`,
      `1.2.0            ${day(TEN_DAYS_AGO)} UTC  10 days   -`,
      `1.3.0            ${day(TEN_DAYS_AGO)} UTC  10 days   -`,
    ]);
    const help = await ctl(root, NAME, ['--help']);
    expect(help.stdout).toMatch(/^ {2}versions +installed image versions with their dates/m);
    expect(help.stdout).toMatch(/^ {2}outdated \[VERSION\] +packages of the current image/m);
    expect(help.stdout).toMatch(/^ +status 0 nothing is behind, 1 something is, 2 an error$/m);
  });

  it("outdated lists what the image's own sources have newer, security fixes marked, with exit 1; as the builder's outdated does", async () => {
    const image = path.join(images(), '1.0.0');
    const before = snapshotTree(image);
    const { res, left } = await outdated();
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(
      [
        'ebtest 1.0.0: 3 packages behind, 2 with a security fix',
        'package  installed  available      from',
        'bar      2.0-1      2.0-2          trixie',
        'libfoo   1.0-1      1.0-1+deb13u1  trixie-security  SECURITY',
        'libsame  3.0-1      3.0-1+deb13u1  trixie-security  SECURITY',
      ].join('\n'),
    );
    expect(res.exitCode).toBe(1);
    expect(left).toEqual([]);
    expect(snapshotTree(image)).toEqual(before);
    // The builder reads the same image directory and the same mirror with its own code.
    const builder = await runCli(['outdated', image]);
    expect(builder.exitCode, builder.stderr).toBe(1);
    expect(builder.stdout.trim().split('\n').slice(1)).toEqual(res.stdout.split('\n').slice(1));
  });

  it("outdated of an image at its sources' newest versions: nothing behind, exit 0", async () => {
    const { res, left } = await outdated(['1.1.0']);
    expect({ code: res.exitCode, out: res.stdout, err: res.stderr }).toEqual({
      code: 0,
      out: 'ebtest 1.1.0: nothing behind (trixie, trixie-security)',
      err: '',
    });
    expect(left).toEqual([]);
  });

  it("outdated exits 2 with apt's reason when a source does not verify with the image's keyring, or does not have the suites; nothing is left", async () => {
    // apt names the key it lacks: the mirror's, which the image's keyring (another key) does not hold.
    const lacking = new RegExp(`(NO_PUBKEY|Missing key) \\w*${key.fingerprint.slice(-16)}.*E: The repository '\\S+ trixie InRelease' is not signed`);
    for (const [version, reason] of [
      ['1.2.0', lacking],
      ['1.3.0', /E: The repository '\S+\/elsewhere trixie Release' does not have a Release file/],
    ] as const) {
      const image = path.join(images(), version);
      const before = snapshotTree(image);
      const { res, left } = await outdated([version]);
      expect(res.exitCode, res.all).toBe(2);
      expect(res.stdout).toBe('');
      expect(res.stderr).toMatch(
        new RegExp(`^${NAME}ctl: error: apt-get update of image ${version.replaceAll('.', '\\.')}'s sources \\(trixie, trixie-security\\) failed: `),
      );
      expect(res.stderr).toMatch(reason);
      expect(left).toEqual([]);
      expect(snapshotTree(image)).toEqual(before);
    }
  });

  it('outdated refuses what it cannot check with exit 2: an image not installed, one without sources, an option', async () => {
    const cases = [
      [['9.9.9'], /image 9\.9\.9 is not installed in .*; installed: 0\.9\.0 1\.0\.0 1\.1\.0 1\.2\.0 1\.3\.0/],
      [['0.9.0'], /image 0\.9\.0 has no deb822 apt sources in \/etc\/apt\/sources\.list\.d \(it was built before images kept them\)/],
      [['--json'], /usage: ebtestctl outdated \[VERSION\]/],
      [['1.0.0', '1.1.0'], /usage: ebtestctl outdated \[VERSION\]/],
    ] as const;
    for (const [args, message] of cases) {
      const { res, left } = await outdated([...args]);
      expect({ args, code: res.exitCode }).toEqual({ args, code: 2 });
      expect(res.stderr).toMatch(message);
      expect(left).toEqual([]);
    }
  });
});
