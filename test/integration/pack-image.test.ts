// The pack stage on a REAL Debian tree (mmdebstrap trixie minbase + openssh-server + git, cleaned
// the way the image overlays clean it), with the real host files (renderHostFiles) and the
// --fast compression: dpkg-deb, lintian (once per package, in beforeAll), GNU tar, zstd,
// sha256sum and a search for private keys. (Two packs giving the same bytes is checked by the
// pack stage's unit test, and for whole builds by build-company.test.ts.) The bootstrapped tree
// is cached in .cache/test/pack-fixture.
import { createHash } from 'node:crypto';
import { execa, execaSync } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PRIVATE_KEY } from '../../pipeline/verify/lint-rules.ts';
import { imageDir } from '../../pipeline/pack/debian-version.ts';
import { IMAGE_LINTIAN_OVERRIDES } from '../../pipeline/pack/lintian-image-overrides.ts';
import { IMAGE_INFO_PATH, SBOM_PATH } from '../../pipeline/image-contract.ts';
import type { VerifiedTree } from '../../pipeline/stage.ts';
import { packStage, type Artifacts } from '../../pipeline/stages/pack.ts';
import type { Plan } from '../../pipeline/ui/reporter.ts';
import { treeDigest } from '../../pipeline/util/tree-digest.ts';
import { describeWith } from '../helpers/env.ts';
import { TEST_CACHE } from '../helpers/paths.ts';
import { describeTree, fixtureCtx, fixtureResolvedRecipe, SDE, tempDir } from '../unit/pack-fixture.ts';

const FIXTURE = path.join(TEST_CACHE, 'pack-fixture');
const ROOTFS = path.join(FIXTURE, 'rootfs');
/** Bump when the fixture's recipe below changes, so a stale cached tree is rebuilt. */
const FIXTURE_VERSION = '1';

/** What the overlays' hygiene does to a bootstrapped tree, reduced to what packing cares about. */
const HOOKS = [
  'rm -f "$1"/etc/ssh/ssh_host_*',
  // systemd sets POSIX ACLs (extended attributes) on /var/log/journal.
  'rm -rf "$1/var/log/journal" && mkdir -m 2755 "$1/var/log/journal"',
  // mmdebstrap copies the build machine's hostname and resolv.conf (mode 0755 on these machines).
  'printf "ebtest\\n" > "$1/etc/hostname" && : > "$1/etc/resolv.conf" && chmod 0644 "$1/etc/hostname" "$1/etc/resolv.conf" && : > "$1/etc/machine-id"',
  'chroot "$1" useradd -u 9000 -U -m -s /bin/bash builder && mkdir -p "$1/etc/ssh/ephemeral"',
];

/** Every regular file under ROOT (or ROOT itself when it is a file); symlinks are not followed. */
function filesUnder(root: string): string[] {
  const st = fs.lstatSync(root);
  if (st.isFile()) return [root];
  if (!st.isDirectory()) return [];
  // Walked by hand: readdir's `recursive` descends through symlinked directories (/lib → usr/lib).
  return fs.readdirSync(root).flatMap((name) => filesUnder(path.join(root, name)));
}

/**
 * Whether FILE, inside an extracted image (…/usr/lib/NAME/images/VERSION/…), is byte-identical to
 * what a Debian package installed there: its md5 is listed in the image's dpkg md5sums.
 */
function shippedUnmodified(file: string): boolean {
  const m = /^(.*\/usr\/lib\/[^/]+\/images\/[^/]+)\/(.+)$/.exec(file);
  if (!m) return false;
  const [, root, rel] = m as unknown as [string, string, string];
  const info = path.join(root, 'var/lib/dpkg/info');
  if (!fs.existsSync(info)) return false;
  const md5 = createHash('md5').update(fs.readFileSync(file)).digest('hex');
  return fs
    .readdirSync(info)
    .filter((f) => f.endsWith('.md5sums'))
    .some((f) =>
      fs
        .readFileSync(path.join(info, f), 'utf8')
        .split('\n')
        .some((l) => l === `${md5}  ${rel}`),
    );
}

async function ensureFixture(): Promise<void> {
  const stamp = path.join(FIXTURE, 'complete');
  if (fs.existsSync(ROOTFS) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === FIXTURE_VERSION) return;
  fs.rmSync(FIXTURE, { recursive: true, force: true });
  fs.mkdirSync(FIXTURE, { recursive: true });
  const tmp = path.join(FIXTURE, `rootfs.tmp-${process.pid}`);
  try {
    await execa(
      'mmdebstrap',
      ['--variant=minbase', '--include=openssh-server,git', ...HOOKS.map((h) => `--customize-hook=${h}`), 'trixie', tmp, 'http://deb.debian.org/debian'],
      { env: { SOURCE_DATE_EPOCH: String(SDE) } },
    );
    // nspawn provides /dev; mmdebstrap leaves device nodes there (its hooks run with devpts mounted).
    await execa('find', [path.join(tmp, 'dev'), '-mindepth', '1', '(', '-type', 'c', '-o', '-type', 'b', ')', '-delete']);
    fs.renameSync(tmp, ROOTFS);
    fs.writeFileSync(stamp, FIXTURE_VERSION);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function verifiedTree(rootfs: string): Promise<VerifiedTree> {
  const summary = await treeDigest(rootfs);
  const q = execaSync('dpkg-query', [
    `--admindir=${rootfs}/var/lib/dpkg`,
    '-W',
    '-f',
    '${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n',
  ]).stdout;
  const packages = q
    .trim()
    .split('\n')
    .map((l) => {
      const [name = '', version = '', architecture = '', source = '', sourceVersion = ''] = l.split('\t');
      return { name, version, architecture, source, sourceVersion };
    });
  return { rootfs, treeDigest: summary.digest, sizeBytes: summary.bytes, fileCount: summary.files, packages };
}

const PLAN: Plan = {
  recipe: { name: 'ebtest', version: '1.4.0-rc.1', suite: 'trixie', file: '/somewhere/recipe.ts', digest: 'a'.repeat(64) },
  sources: [],
  stages: [{ stage: 'pack', title: 'p', key: '3'.repeat(64), cache: 'miss' as never, manifest: {} }],
};

const IMAGE_DIR = 'usr/lib/ebtest/images/1.4.0-rc.1';

let work: string;
let tree: VerifiedTree;
let first: Artifacts;
let lintianHost: string;
let lintianImage: string;
// --fast levels (xz -1 members, zstd -3 tarball): what this file checks (the layout dpkg, tar and
// lintian see) does not depend on the level, and the recipe's levels took minutes of CI here; the
// pack benchmark measures them.
const recipe = fixtureResolvedRecipe({ compression: {} });

function lintian(deb: string): Promise<string> {
  return execa('lintian', ['--no-cfg', '--display-level', '>=warning', '--show-overrides', deb], { reject: false, all: true }).then((r) => r.all ?? '');
}

describeWith(
  { root: true, network: true, tools: ['mmdebstrap', 'dpkg-deb', 'lintian', 'xz', 'zstd', 'tar', 'getfattr', 'sha256sum'] },
  'pack on a real trixie tree',
  () => {
    beforeAll(async () => {
      work = tempDir('pack-image');
      await ensureFixture();
      tree = await verifiedTree(ROOTFS);
      await packStage.verify(recipe);
      first = await packStage.run({ tree, outDir: path.join(work, 'out1'), fast: true, plan: PLAN }, fixtureCtx(recipe, work));
      // lintian is mostly single-threaded: both at once.
      [lintianHost, lintianImage] = await Promise.all([lintian(first.hostDeb), lintian(first.imageDeb)]);
    });
    afterAll(() => {
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it('makes packages dpkg-deb accepts', () => {
      for (const deb of [first.imageDeb, first.hostDeb]) {
        expect(execaSync('dpkg-deb', ['--info', deb]).exitCode).toBe(0);
        expect(execaSync('dpkg-deb', ['--contents', deb], { maxBuffer: 64 * 1024 * 1024 }).exitCode).toBe(0);
      }
      expect(execaSync('dpkg-deb', ['-f', first.hostDeb, 'Depends']).stdout).toBe('ebtest-image-1.4.0-rc.1 (= 1.4.0~rc.1), systemd-container, openssh-client');
    });

    it('reproduces the tree with dpkg-deb -x: same paths, types, modes, numeric owners, contents', () => {
      const dest = path.join(work, 'x-image');
      execaSync('dpkg-deb', ['-x', first.imageDeb, dest]);
      const want = describeTree(ROOTFS);
      const got = describeTree(path.join(dest, IMAGE_DIR));
      // What pack adds inside the image: its SBOM and image.env (and the directory holding them).
      const added = [SBOM_PATH, IMAGE_INFO_PATH].map((p) => p.slice(1));
      expect(added.every((p) => got.get(p)?.type === 'file')).toBe(true);
      for (const p of [...added, path.dirname(added[0] as string)]) got.delete(p);
      expect([...got.keys()]).toEqual([...want.keys()]);
      const differ = [...want]
        .filter(([p, w]) => {
          const g = got.get(p)!;
          return JSON.stringify({ ...g, mtime: 0, inode: Boolean(g.inode) }) !== JSON.stringify({ ...w, mtime: 0, inode: Boolean(w.inode) });
        })
        .map(([p]) => p);
      expect(differ).toEqual([]);
      expect(got.get('home/builder')!.uid).toBe(9000);
    });

    it('gets no lintian errors or warnings on the host package', () => {
      expect(lintianHost.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    });

    it('gets no lintian errors or warnings on the image package; only listed rootfs tags are overridden', () => {
      expect(lintianImage.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
      const overridden = new Set([...lintianImage.matchAll(/^O: \S+: (\S+)/gm)].map((m) => m[1]));
      const listed = new Set(IMAGE_LINTIAN_OVERRIDES.map((o) => o.tag));
      expect([...overridden].filter((t) => !listed.has(t!))).toEqual([]);
      // The overrides did something: a real rootfs triggers these by the hundred.
      expect(overridden.has('undeclared-elf-prerequisites')).toBe(true);
    });

    it("writes a tarball GNU tar and zstd read, holding exactly both packages' files", () => {
      expect(execaSync('zstd', ['-t', '-q', first.tarball]).exitCode).toBe(0);
      const list = (cmd: string) =>
        execaSync('sh', ['-c', cmd], { maxBuffer: 64 * 1024 * 1024 })
          .stdout.split('\n')
          .filter(Boolean);
      const inTarball = list(`tar --zstd -tf '${first.tarball}'`);
      const inDebs = new Set([
        ...list(`dpkg-deb --fsys-tarfile '${first.imageDeb}' | tar -tf -`),
        ...list(`dpkg-deb --fsys-tarfile '${first.hostDeb}' | tar -tf -`),
      ]);
      expect(inTarball.length).toBe(inDebs.size);
      expect(new Set(inTarball)).toEqual(inDebs);
    });

    it('ships no private key in any artifact', () => {
      const x = path.join(work, 'x-all');
      fs.mkdirSync(x);
      for (const [deb, dir] of [
        [first.imageDeb, 'image'],
        [first.hostDeb, 'host'],
      ] as const) {
        execaSync('dpkg-deb', ['-R', deb, path.join(x, dir)]);
      }
      fs.mkdirSync(path.join(x, 'tarball'));
      execaSync('tar', ['--zstd', '-xf', first.tarball, '-C', path.join(x, 'tarball')]);
      // Binaries (ssh-keygen, libcrypto) contain the "-----BEGIN ... PRIVATE KEY-----" marker as a
      // string constant, so search for what a key is: the marker followed by base64 (PRIVATE_KEY).
      const scan = (root: string) => filesUnder(root).filter((f) => PRIVATE_KEY.test(fs.readFileSync(f, 'latin1')));
      const hits = [x, first.installSh, first.manifest, first.sha256sums].flatMap(scan);
      // Debian's libgnutls30 embeds the public test-vector keys of its FIPS self-tests. A key in a
      // file byte-identical to what a Debian package shipped (the image's own dpkg md5sums) is such
      // a published vector; anything else, ours or modified, fails.
      const shipped = hits.filter(shippedUnmodified);
      console.log(`[pack-image] keys in unmodified Debian package files (public test vectors): ${shipped.map((f) => path.basename(f)).join(', ') || 'none'}`);
      expect(hits.filter((f) => !shipped.includes(f))).toEqual([]);
      // The search itself works: it finds a real key planted in the extracted tree, and one planted
      // inside the image tree, where a package's md5sums does not list it.
      const planted = path.join(x, 'image', 'planted');
      execaSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', planted]);
      const inImage = path.join(x, 'image', imageDir(recipe.name, recipe.version), 'etc', 'planted-key');
      fs.copyFileSync(planted, inImage);
      expect(
        scan(x)
          .filter((f) => !shippedUnmodified(f))
          .sort(),
      ).toEqual([inImage, planted].sort());
    });

    it('writes SHA256SUMS that sha256sum -c accepts', () => {
      expect(execaSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: path.dirname(first.sha256sums) }).exitCode).toBe(0);
      const m = JSON.parse(fs.readFileSync(first.manifest, 'utf8'));
      expect(m.image.packages.find((p: { name: string }) => p.name === 'openssh-server')).toBeDefined();
      expect(m.image.treeDigest).toBe(tree.treeDigest);
    });
  },
);
