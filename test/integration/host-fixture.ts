// Fixtures for the host tests: a recipe, the rendered host files laid out as a release tarball
// (GNU tar | zstd, the same layout the pack stage writes: the host files plus one image under
// usr/lib/<name>/images/<version>/), SHA256SUMS, its signature and the release keyring (as the
// CI's pages job signs it, with the test process's release key) and install.sh next to it, a
// scratch host root, and a snapshot of a tree to prove "nothing changed". The real image for the spawn test is a
// cached mmdebstrap tree with the image conventions applied by hand (see prepareTestImage).
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import tarStream from 'tar-stream';
import { containerInitFiles } from '../../overlays/container-init/overlay.ts';
import { renderHostFiles, type HostPackageFiles } from '../../pipeline/host-package/render.ts';
import { recipeSchema, type RecipeInput, type Recipe } from '../../pipeline/recipe/schema.ts';
import { signChecksums, testReleaseKey } from '../e2e/harness/gpg-key.ts';

export function testRecipe(input: RecipeInput = {}): Recipe {
  return recipeSchema.parse({ name: 'ebtest', version: '1.0.0', ...input });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

/** Writes the host files of a rendered recipe below `root` (as dpkg or install.sh would). */
export function writeHostFiles(root: string, rendered: HostPackageFiles): void {
  for (const f of rendered.files) {
    const dest = path.join(root, f.path);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, f.content);
    fs.chmodSync(dest, f.mode);
  }
}

/** The smallest image install.sh and the host tool accept as complete. */
export function writeFakeImage(imageDir: string, user = 'builder', marker = ''): void {
  for (const dir of ['usr/lib/ephemeral-builder', 'usr/sbin', 'etc/ssh/ephemeral', `home/${user}`]) {
    fs.mkdirSync(path.join(imageDir, dir), { recursive: true });
  }
  fs.writeFileSync(path.join(imageDir, 'usr/lib/ephemeral-builder/container-init'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  fs.writeFileSync(path.join(imageDir, 'usr/sbin/sshd'), '', { mode: 0o755 });
  fs.writeFileSync(path.join(imageDir, 'etc/release-marker'), marker || path.basename(imageDir));
}

export interface Release {
  dir: string;
  tarball: string;
  installSh: string;
  rendered: HostPackageFiles;
}

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * SHA256SUMS of every file in dir (as the pack stage writes it), then what the CI's pages job adds:
 * SHA256SUMS.asc, a detached signature by `key` (default the test release key), and the release
 * keyring <name>-archive-keyring.gpg.
 */
export async function writeSums(dir: string, name = 'ebtest'): Promise<void> {
  for (const f of ['SHA256SUMS.asc', `${name}-archive-keyring.gpg`]) fs.rmSync(path.join(dir, f), { force: true });
  const names = fs
    .readdirSync(dir)
    .filter((n) => n !== 'SHA256SUMS')
    .sort();
  const lines = await Promise.all(names.map(async (n) => `${await sha256File(path.join(dir, n))}  ${n}\n`));
  fs.writeFileSync(path.join(dir, 'SHA256SUMS'), lines.join(''));
  await signChecksums(dir, name);
}

/**
 * A release directory as the pack stage leaves it: <name>-<ver>-<architecture>.tar.zst (default
 * amd64), install.sh and SHA256SUMS. `image` is a directory to copy in as the image (default: a
 * fake image).
 */
export async function makeRelease(recipe: Recipe, opts: { image?: string; dropFiles?: string[]; architecture?: string } = {}): Promise<Release> {
  const dir = tempDir('eb-release');
  const tree = tempDir('eb-tree');
  try {
    const rendered = renderHostFiles(recipe);
    writeHostFiles(tree, rendered);
    for (const drop of opts.dropFiles ?? []) fs.rmSync(path.join(tree, drop));
    const imageDir = path.join(tree, 'usr/lib', recipe.name, 'images', recipe.version);
    if (opts.image) {
      fs.mkdirSync(path.dirname(imageDir), { recursive: true });
      await execa('cp', ['-a', '--reflink=auto', opts.image, imageDir]);
    } else {
      writeFakeImage(imageDir, recipe.user.name, `image ${recipe.version}`);
    }
    const tarball = path.join(dir, `${recipe.name}-${recipe.version}-${opts.architecture ?? 'amd64'}.tar.zst`);
    await execa('sh', ['-c', 'tar --sort=name --numeric-owner -C "$1" -cf - . | zstd -q -T0 -3 -o "$2"', 'sh', tree, tarball]);
    const installSh = path.join(dir, 'install.sh');
    fs.writeFileSync(installSh, rendered.installSh, { mode: 0o755 });
    await writeSums(dir, recipe.name);
    return { dir, tarball, installSh, rendered };
  } finally {
    fs.rmSync(tree, { recursive: true, force: true });
  }
}

export interface CraftedEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink';
  content?: string;
  linkname?: string;
  mode?: number;
}

/** A tarball with exactly these member names (tar-stream writes any name, even hostile ones). */
export async function craftTarball(file: string, entries: CraftedEntry[]): Promise<void> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: 0, gid: 0, mtime: new Date(0), linkname: e.linkname };
    await new Promise<void>((resolve, reject) => {
      if (type === 'file') pack.entry(header, e.content ?? '', (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await ended;
  await execa('zstd', ['-q', '-o', file, '-'], { input: Buffer.concat(chunks) });
}

/** A scratch host: the directories a Debian host has before anything of ours is installed. */
/** Where a host root's `current` link points. */
export function currentOf(root: string, name: string): string {
  return fs.readlinkSync(path.join(root, 'var/lib', name, 'current'));
}

export function newHostRoot(): string {
  const root = tempDir('eb-host');
  for (const dir of ['usr/sbin', 'usr/lib/systemd/system', 'usr/share/doc', 'usr/share/man/man8', 'etc/systemd/system/sockets.target.wants', 'var/lib']) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
  }
  // Some other enabled socket, as on any host: enabling and disabling ours must leave it alone.
  fs.symlinkSync('/usr/lib/systemd/system/dbus.socket', path.join(root, 'etc/systemd/system/sockets.target.wants/dbus.socket'));
  return root;
}

/** Every path below root with its type, mode, owner and content digest (or link target). */
export function snapshotTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const st = fs.lstatSync(full);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out.set(rel, `link ${fs.readlinkSync(full)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir ${meta}`);
        walk(full);
      } else out.set(rel, `file ${meta} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex')}`);
    }
  };
  walk(root);
  return out;
}

/** Runs install.sh against a scratch root, trusting the test release key as an admin passes it. */
export async function installSh(release: Release, root: string, args: string[], o: { trust?: string[] } = {}) {
  const trust = o.trust ?? ['--fingerprint', (await testReleaseKey()).fingerprint];
  return execa('sh', [release.installSh, '--root', root, ...trust, ...args], { reject: false, all: true });
}

/** Runs the rendered host tool from a scratch root against that root. */
export function ctl(root: string, name: string, args: string[], env: Record<string, string> = {}) {
  return execa('sh', [path.join(root, 'usr/sbin', `${name}ctl`), ...args], { reject: false, all: true, env: { EB_ROOT: root, ...env } });
}

// ---- the real image for the spawn test ----

const TEST_SSHD_DROP_IN = (user: string) => `HostKey /etc/ssh/ephemeral/ssh_host_ecdsa_key
HostKey /etc/ssh/ephemeral/ssh_host_rsa_key
HostKey /etc/ssh/ephemeral/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/ephemeral/authorized_keys
AllowUsers ${user}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
DisableForwarding yes
UsePAM no
PrintMotd no
PrintLastLog no
`;

/**
 * Applies the image conventions (see the shared briefing) to a bootstrapped tree: the builder
 * user with an empty home mount point and a template, container-init, the sshd drop-in and the
 * empty key mount point, no host keys, an empty machine-id, and the bind targets.
 */
export function applyImageConventions(rootfs: string, recipe: Recipe, bindTargets: string[]): void {
  const { name: user, uid, gid, shell } = recipe.user;
  const append = (file: string, line: string) => fs.appendFileSync(path.join(rootfs, file), `${line}\n`);
  append('etc/passwd', `${user}:x:${uid}:${gid}::/home/${user}:${shell}`);
  append('etc/group', `${user}:x:${gid}:`);
  append('etc/shadow', `${user}:*:20000:0:99999:7:::`);
  const home = path.join(rootfs, 'home', user);
  fs.mkdirSync(home, { mode: 0o700 });
  fs.chownSync(home, uid, gid);
  fs.cpSync(path.join(rootfs, 'etc/skel'), `${home}.template`, { recursive: true });
  // Debian's .bash_logout runs clear_console behind a test that fails without it, which turns a
  // job's `exit 42` under `set -e` into 1 (the dotfiles overlay fixes the real image).
  fs.rmSync(`${home}.template/.bash_logout`, { force: true });
  for (const f of ['', ...fs.readdirSync(`${home}.template`)]) fs.chownSync(path.join(`${home}.template`, f), uid, gid);
  fs.chmodSync(`${home}.template`, 0o700);
  for (const f of containerInitFiles(recipe.user)) {
    fs.mkdirSync(path.join(rootfs, path.dirname(f.path)), { recursive: true });
    fs.writeFileSync(path.join(rootfs, f.path), f.content, { mode: f.mode });
  }
  fs.writeFileSync(path.join(rootfs, 'etc/ssh/sshd_config.d/ephemeral-builder.conf'), TEST_SSHD_DROP_IN(user));
  fs.mkdirSync(path.join(rootfs, 'etc/ssh/ephemeral'), { mode: 0o755 });
  for (const key of fs.readdirSync(path.join(rootfs, 'etc/ssh')).filter((n) => n.startsWith('ssh_host_'))) {
    fs.rmSync(path.join(rootfs, 'etc/ssh', key));
  }
  fs.writeFileSync(path.join(rootfs, 'etc/machine-id'), '');
  for (const target of bindTargets) {
    if (!fs.existsSync(path.join(rootfs, target))) fs.writeFileSync(path.join(rootfs, target), '', { mode: 0o644 });
  }
}

/** A trixie minbase tree with openssh-server, git and procps (ps, for the tests), bootstrapped once and cached as a tarball. */
export async function bootstrapTestImage(cacheDir: string, into: string): Promise<void> {
  const cached = path.join(cacheDir, 'host-spawn-trixie-minbase-openssh-git-procps.tar');
  if (!fs.existsSync(cached)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cached}.tmp-${process.pid}.tar`;
    await execa('mmdebstrap', [
      '--quiet',
      '--format=tar',
      '--variant=minbase',
      '--include=openssh-server,git,procps',
      'trixie',
      tmp,
      'http://deb.debian.org/debian',
    ]);
    fs.renameSync(tmp, cached);
  }
  fs.mkdirSync(into, { recursive: true });
  await execa('tar', ['--numeric-owner', '-xpf', cached, '-C', into]);
}

// ---- packages for the maintainer script tests ----

export interface TestDebs {
  host: string;
  image: string;
}

/**
 * Minimal .debs around the rendered host files and maintainer scripts (dpkg-deb, not the pack
 * stage): enough for dpkg to run our scripts. The image package holds a fake image.
 */
/** bulkMiB: incompressible 1 MiB files added to the image, so that unpacking it takes a while. */
export async function buildTestDebs(recipe: Recipe, outDir: string, opts: { bulkMiB?: number } = {}): Promise<TestDebs> {
  const rendered = renderHostFiles(recipe);
  const { name, version } = recipe;
  const debVersion = version.replace('-', '~');
  const control = (pkg: string, depends: string) =>
    `Package: ${pkg}\nVersion: ${debVersion}\nArchitecture: all\nMaintainer: Test <test@example.org>\n${depends ? `Depends: ${depends}\n` : ''}Description: test package\n`;
  const build = async (tree: string, file: string) => {
    await execa('dpkg-deb', ['--root-owner-group', '-Zgzip', '-b', tree, file]);
    fs.rmSync(tree, { recursive: true, force: true });
    return file;
  };

  const hostTree = tempDir('eb-hostdeb');
  writeHostFiles(hostTree, rendered);
  fs.mkdirSync(path.join(hostTree, 'DEBIAN'));
  fs.writeFileSync(path.join(hostTree, 'DEBIAN/control'), control(name, `${name}-image-${version} (= ${debVersion}), systemd-container, openssh-client`));
  fs.writeFileSync(
    path.join(hostTree, 'DEBIAN/conffiles'),
    rendered.files
      .filter((f) => f.conffile)
      .map((f) => `${f.path}\n`)
      .join(''),
  );
  for (const [script, text] of Object.entries(rendered.maintainerScripts)) fs.writeFileSync(path.join(hostTree, 'DEBIAN', script), text!, { mode: 0o755 });

  const imageTree = tempDir('eb-imagedeb');
  const imageDir = path.join(imageTree, 'usr/lib', name, 'images', version);
  writeFakeImage(imageDir, recipe.user.name, `image ${version}`);
  if (opts.bulkMiB) {
    fs.mkdirSync(path.join(imageDir, 'usr/share/bulk'), { recursive: true });
    for (let i = 0; i < opts.bulkMiB; i++) fs.writeFileSync(path.join(imageDir, 'usr/share/bulk', String(i)), randomBytes(1024 * 1024));
  }
  fs.mkdirSync(path.join(imageTree, 'DEBIAN'));
  fs.writeFileSync(path.join(imageTree, 'DEBIAN/control'), control(`${name}-image-${version}`, ''));
  for (const [script, text] of Object.entries(rendered.imageMaintainerScripts))
    fs.writeFileSync(path.join(imageTree, 'DEBIAN', script), text!, { mode: 0o755 });

  return {
    host: await build(hostTree, path.join(outDir, `${name}_${debVersion}_all.deb`)),
    image: await build(imageTree, path.join(outDir, `${name}-image-${version}_${debVersion}_all.deb`)),
  };
}

/** An empty dpkg database below root, so that `dpkg --root` can install into it. */
export function initDpkgRoot(root: string): void {
  for (const dir of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'var/lib/systemd'])
    fs.mkdirSync(path.join(root, dir), { recursive: true });
  for (const file of ['var/lib/dpkg/status', 'var/lib/dpkg/available']) fs.writeFileSync(path.join(root, file), '');
}

/**
 * dpkg against a scratch root. --force-script-chrootless runs the maintainer scripts here with
 * DPKG_ROOT set, which they (and deb-systemd-helper) honour; --force-depends because the root
 * has no systemd-container or openssh-client packages.
 */
export function dpkgArgs(root: string, args: string[]): string[] {
  return [`--root=${root}`, '--force-script-chrootless', '--force-depends', '--log=/dev/null', ...args];
}

export function dpkg(root: string, args: string[]) {
  return execa('dpkg', dpkgArgs(root, args), { reject: false, all: true });
}

/**
 * A process the host tool takes for a live container of `name` on image `version`: argv[0] is
 * systemd-nspawn and it carries --machine= and --directory= as the spawn helper passes them. It is
 * /bin/sh waiting on a builtin read, so killing it leaves no child behind.
 */
export function fakeContainer(binDir: string, root: string, name: string, version: string) {
  const fake = path.join(binDir, 'systemd-nspawn');
  if (!fs.existsSync(fake)) {
    fs.copyFileSync('/bin/sh', fake);
    fs.chmodSync(fake, 0o755);
  }
  return execa(fake, ['-c', 'read -r x', `--machine=${name}-1-4242`, `--directory=${path.join(root, 'usr/lib', name, 'images', version)}`], {
    reject: false,
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'ignore',
  });
}
