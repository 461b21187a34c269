// Root filesystems of Debian "hosts" for the booted-host tests: a minbase Debian with systemd as
// init and what an admin host needs before `apt install`ing our package (systemd-container for
// nspawn and machinectl, openssh-client). Bootstrapped once with mmdebstrap into a tarball cached
// under .cache/test/hosts/, then unpacked fresh for every test host, so no test sees another's
// changes. The cache key covers the release, mirror, package list and the mirror's Release date,
// so a Debian point release rebuilds the tree. apt lists are kept in the tarball, as on a real
// host, so an `apt-get update` inside is quick. Trees go to /dev/shm when it is a roomy tmpfs
// without nosuid/nodev (here: unpack 1.3 s instead of 4.3 s, removal 0.2 s instead of 3-10 s on
// the shared disk), else to the temp dir; EB_TEST_HOSTS_DIR overrides.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { fetchInRelease } from '../../../pipeline/mirror.ts';
import { mountsBelow, unmountBelow } from '../../../pipeline/util/mounts.ts';
import { TEST_CACHE } from '../../helpers/paths.ts';
import { acquirePidLock } from '../../../pipeline/util/pid-lock.ts';

export type HostRelease = 'trixie' | 'bookworm';

/** What every test host has: init, D-Bus, nspawn + machinectl, ssh, and tools tests read state with. */
export const HOST_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'systemd-container', 'openssh-client', 'procps', 'iproute2'];

/** Bumped when the way trees are made changes, so old tarballs stop matching. */
const TREE_FORMAT = 1;

export interface HostTreeOptions {
  mirror?: string;
  /** Packages on top of HOST_PACKAGES. */
  extraPackages?: string[];
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface HostTarball {
  tarball: string;
  cached: boolean;
  /** Wall time spent getting the tarball (bootstrap on a miss). */
  seconds: number;
}

export interface HostTree {
  release: HostRelease;
  /** The host's / as seen from this machine. */
  root: string;
  /** Per-host scratch outside the tree (boot log...). Removed with the tree. */
  workDir: string;
  tarball: HostTarball;
  unpackSeconds: number;
  /** Removes the tree; refuses while anything is mounted below it. */
  remove(): Promise<void>;
}

const since = (t: number) => Math.round((performance.now() - t) / 100) / 10;

/** The cached tarball of a release's host tree, bootstrapping it on a miss. */
export async function hostTreeTarball(release: HostRelease, opts: HostTreeOptions = {}): Promise<HostTarball> {
  const t0 = performance.now();
  const mirror = opts.mirror ?? 'http://deb.debian.org/debian';
  const packages = [...new Set([...HOST_PACKAGES, ...(opts.extraPackages ?? [])])].sort();
  const dir = path.join(opts.cacheDir ?? TEST_CACHE, 'hosts');
  fs.mkdirSync(dir, { recursive: true });
  const stem = `${release}-${createHash('sha256').update(JSON.stringify({ TREE_FORMAT, release, mirror, packages })).digest('hex').slice(0, 16)}`;

  // The mirror's Release date: a new point release means new packages, so a new tree. Offline,
  // the newest tree made for this package list is still good enough to test with.
  let mirrorDate: string | undefined;
  try {
    const found = await fetchInRelease(mirror, release, { attempts: 2, timeoutMs: 20_000 });
    if (found.found) mirrorDate = String(found.state.date);
  } catch (err) {
    opts.log?.(`cannot read ${mirror} ${release} InRelease (${(err as Error).message}); using the newest cached tree`);
  }
  const candidates = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(`${stem}-`) && f.endsWith('.tar.zst'))
    .sort();
  const wanted = mirrorDate ? `${stem}-${mirrorDate}.tar.zst` : candidates.at(-1);
  if (wanted && fs.existsSync(path.join(dir, wanted))) return { tarball: path.join(dir, wanted), cached: true, seconds: since(t0) };
  if (!mirrorDate) throw new Error(`no cached ${release} host tree and the mirror ${mirror} is unreachable`);

  const final = path.join(dir, `${stem}-${mirrorDate}.tar.zst`);
  const unlock = await lock(`${final}.lock`, opts.log);
  try {
    if (fs.existsSync(final)) return { tarball: final, cached: true, seconds: since(t0) };
    const tmp = path.join(dir, `.${path.basename(final)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}.tar.zst`);
    opts.log?.(`bootstrapping a ${release} host tree (${packages.join(', ')})`);
    try {
      const res = await execa(
        'mmdebstrap',
        [
          '--variant=minbase',
          `--include=${packages.join(',')}`,
          '--mode=root',
          '--format=tar',
          // Keep the lists: a real host has them, and apt-get update inside then only revalidates.
          '--skip=cleanup/apt/lists',
          release,
          tmp,
          mirror,
        ],
        { reject: false, all: true, env: { LC_ALL: 'C.UTF-8' }, stdin: 'ignore' },
      );
      if (res.exitCode !== 0)
        throw new Error(`mmdebstrap ${release} failed (exit code ${res.exitCode}):\n${String(res.all).split('\n').slice(-30).join('\n')}`);
      fs.renameSync(tmp, final);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    // Older trees of the same package list are superseded by this one.
    for (const old of candidates) fs.rmSync(path.join(dir, old), { force: true });
    return { tarball: final, cached: false, seconds: since(t0) };
  } finally {
    unlock();
  }
}

/** Where host trees are unpacked: see the header. */
export function hostsBaseDir(): string {
  if (process.env.EB_TEST_HOSTS_DIR) return process.env.EB_TEST_HOSTS_DIR;
  try {
    const shm = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4] === '/dev/shm')
      .at(-1);
    const [, after] = shm?.split(' - ') ?? [];
    const [fstype, , superOpts] = after?.split(' ') ?? [];
    const mountOpts = shm?.split(' ')[5] ?? '';
    const opts = `${mountOpts},${superOpts ?? ''}`.split(',');
    const st = fs.statfsSync('/dev/shm');
    if (fstype === 'tmpfs' && !opts.includes('nosuid') && !opts.includes('nodev') && !opts.includes('noexec') && st.bavail * st.bsize > 8 * 2 ** 30)
      return '/dev/shm';
  } catch {
    // no /dev/shm: the temp dir will do
  }
  return os.tmpdir();
}

/** A fresh copy of the release's host tree in a new temporary directory. */
export async function makeHostTree(release: HostRelease, opts: HostTreeOptions = {}): Promise<HostTree> {
  const tarball = await hostTreeTarball(release, opts);
  const base = hostsBaseDir();
  fs.mkdirSync(base, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(base, `eb-host-${release}-`));
  const root = path.join(workDir, 'root');
  fs.mkdirSync(root, { mode: 0o755 });
  const t0 = performance.now();
  try {
    await execa('tar', ['--zstd', '-xpf', tarball.tarball, '-C', root, '--numeric-owner', '--xattrs', '--xattrs-include=*'], { stdin: 'ignore' });
  } catch (err) {
    fs.rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
  // Each host its own identity: mmdebstrap leaves machine-id empty and copies this machine's hostname.
  fs.writeFileSync(path.join(root, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`);
  return { release, root, workDir, tarball, unpackSeconds: since(t0), remove: () => removeTree(workDir) };
}

/** rm -rf, but never through a mount: a bind mount left below would take the source's files with it. */
export async function removeTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  await unmountBelow(dir);
  const left = mountsBelow(dir);
  if (left.length) throw new Error(`not removing ${dir}: still mounted below it: ${left.join(', ')}`);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** One bootstrap per tarball at a time across test processes; a dead owner's lock is stale. */
function lock(file: string, log?: (line: string) => void): Promise<() => void> {
  return acquirePidLock(file, { pollMs: 1000, onWait: (owner) => log?.(`waiting for pid ${owner}, which is bootstrapping the same host tree`) });
}
