// The product on a real host, the apt way: recipes/minimal.ts (with the
// release-marker overlay) is built as 1.0.0 and 1.1.0, published to an apt repository signed with
// a throwaway key and served on loopback; a booted Debian 13 host adds the repository the admin
// way and runs `apt-get install ephemeral-builder`. Everything is then checked from this machine
// over real SSH to the host's socket, in order, on that one host: containers per connection,
// ControlMaster multiplexing, a GitLab Runner style job, nothing persisting, host keys (against a
// second host installed the same way), isolation and limits, an upgrade under load, a rollback
// with gc, and a purge.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMAGE_INFO_PATH } from '../../pipeline/image-contract.ts';
import { loadImageRecord } from '../../pipeline/inspect/image-record.ts';
import { findOutdated } from '../../pipeline/inspect/outdated.ts';
import { keyringInstallPath } from '../../pipeline/publish/sources.ts';
import { compareDebianVersions } from '../../pipeline/publish/version-order.ts';
import { describeWith } from '../helpers/env.ts';
import { APT_ENV } from './harness/index.ts';
import { artifacts, CTL, NAME, RELEASE_FILE, type Artifacts } from './product/artifacts.ts';
import { checkNothingPersists, checkOneContainerPerConnection, checkRollback, checkRunnerJob, checkUpgradeUnderLoad, unitOf } from './product/checks.ts';
import {
  bootProductHost,
  containerProcesses,
  DOCTOR_FILTER_STORED,
  filterJournal,
  installFromRepo,
  machines,
  PORT_DROP_IN,
  SOCKET,
  socketCounter,
  storedFilterInode,
  waitNoContainers,
  type ProductHost,
} from './product/host.ts';
import { makeProductRepo, type ProductRepo } from './product/repo.ts';
import { serveTestRepo, type ServedRepo } from './product/runner-job.ts';
import { runBackToBack } from './product/runner-load.ts';
import { HeldJob, Multiplexed, ssh, sshOk } from './product/ssh.ts';

const NEEDS = {
  root: true,
  tools: ['mmdebstrap', 'systemd-nspawn', 'nsenter', 'setpriv', 'zstd', 'tar', 'dpkg-deb', 'gpg', 'gpgv', 'ssh', 'ssh-keyscan', 'git'],
};
/** recipes/minimal.ts: limits.homeSize 256M, memory 1G, tasks 256, maxConnections 4; cpu 200% by default. */
const HOME_BYTES = 256 * 2 ** 20;

const since = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;

/** Whether a path (or a dangling link) exists inside the host. */
function existsOn(ph: ProductHost, inside: string): boolean {
  try {
    fs.lstatSync(ph.host.path(inside));
    return true;
  } catch {
    return false;
  }
}

async function accepted(ph: ProductHost): Promise<number> {
  return socketCounter(ph)('NAccepted');
}

/** `<name>ctl known-hosts` output in a file, for ssh's UserKnownHostsFile. */
async function knownHostsFile(ph: ProductHost, rewritePortTo?: number): Promise<{ file: string; lines: string[] }> {
  const out = await ph.host.execOk(`${CTL} known-hosts`);
  let lines = out.trim().split('\n');
  if (rewritePortTo) lines = lines.map((l) => l.replace(/^\[127\.0\.0\.1\]:\d+ /, `[127.0.0.1]:${rewritePortTo} `));
  const file = path.join(ph.work, `known_hosts-${rewritePortTo ?? ph.port}`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, lines };
}

/**
 * True when package `name` at `version` still satisfies every versioned dependency other packages
 * of a dpkg status have on it, and meets none of their versioned Breaks or Conflicts: apt would
 * refuse a status that does not.
 */
function dependentsAccept(status: string, name: string, version: string): boolean {
  const holds: Record<string, (c: number) => boolean> = {
    '>=': (c) => c >= 0,
    '<=': (c) => c <= 0,
    '=': (c) => c === 0,
    '>>': (c) => c > 0,
    '<<': (c) => c < 0,
  };
  for (const m of status.matchAll(/^(Pre-Depends|Depends|Breaks|Conflicts): (.*)$/gm)) {
    for (const rel of m[2]!.split(/[,|]/)) {
      const r = /^\s*([^\s:(]+)(?::\S+)?\s*(?:\((>=|<=|=|>>|<<)\s*([^)\s]+)\))?/.exec(rel);
      if (r?.[1] !== name || !r[2]) continue;
      const met = holds[r[2]]!(compareDebianVersions(version, r[3]!));
      if (met !== m[1]!.endsWith('Depends')) return false;
    }
  }
  return true;
}

/** A dpkg status with package `name` at `version`. */
function setVersion(status: string, name: string, version: string): string {
  return status
    .split('\n\n')
    .map((p) => (new RegExp(`^Package: ${name}$`, 'm').test(p) ? p.replace(/^Version: .*$/m, `Version: ${version}`) : p))
    .join('\n\n');
}

describeWith(NEEDS, 'product on a Debian 13 host, installed with apt', () => {
  let a: ProductHost | undefined;
  let b: ProductHost | undefined;
  let repo: ProductRepo | undefined;
  let git: ServedRepo | undefined;
  let next: Promise<Artifacts> | undefined;
  let prefetch: Promise<Artifacts> | undefined;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const t0 = performance.now();
    // Both at once: the packing of one overlaps the other's waits (the compressors are single
    // threaded); 1.1.0 is awaited only by the upgrade test.
    const first = artifacts('1.0.0');
    next = artifacts('1.1.0');
    next.catch(() => undefined);
    // The runtime-fault tests' build, made while these tests run so that file need not wait for
    // it (built once per run either way; afterAll waits for it, so it is never cut off).
    prefetch = Promise.allSettled([first, next]).then(() => artifacts('faults'));
    prefetch.catch(() => undefined);
    const boots = await Promise.allSettled([bootProductHost('trixie', 'product-a'), bootProductHost('trixie', 'product-b')]);
    a = boots[0].status === 'fulfilled' ? boots[0].value : undefined;
    b = boots[1].status === 'fulfilled' ? boots[1].value : undefined;
    for (const r of boots) if (r.status === 'rejected') throw r.reason;
    timings.boot = since(t0);
    [repo, git] = await Promise.all([makeProductRepo(), serveTestRepo()]);
    const v100 = await first;
    timings.build100 = v100.buildSeconds;
    await repo.add(v100);
    const t1 = performance.now();
    await Promise.all([installFromRepo(a!, repo), installFromRepo(b!, repo)]);
    timings.aptInstallBoth = since(t1);
    timings.beforeAll = since(t0);
  });

  afterAll(async () => {
    await Promise.allSettled([a?.poweroff(), b?.poweroff()]);
    await Promise.allSettled([repo?.dispose(), git?.close(), next, prefetch]);
    console.log(`[product-host] timings (s): ${JSON.stringify(timings)}`);
  });

  it("installs the admin way: the socket listens on the admin's port, on loopback, with the recipe's limit", async () => {
    const h = a!;
    // The keyring package came along (the host package recommends it) and took over the keyring
    // the admin put in /etc/apt/keyrings: from now on it follows the repository's key rotations.
    expect(await h.host.execOk(`dpkg-query -W -f '\${Package} \${Version} \${db:Status-Abbrev}\\n' '${NAME}*'`)).toBe(
      `${NAME} 1.0.0 ii \n${NAME}-archive-keyring 1 ii \n${NAME}-image-1.0.0 1.0.0 ii \n`,
    );
    expect((await h.host.execOk(`dpkg -S ${keyringInstallPath(NAME)}`)).trim()).toBe(`${NAME}-archive-keyring: ${keyringInstallPath(NAME)}`);
    // The package's own unit says the recipe's port; the admin's drop-in moved it.
    expect(await h.host.execOk(`grep ^ListenStream= /usr/lib/systemd/system/${SOCKET}`)).toBe('ListenStream=127.0.0.1:24\n');
    expect(fs.existsSync(h.host.path(PORT_DROP_IN))).toBe(true);
    expect((await h.host.execOk(`systemctl show -P Listen ${SOCKET}`)).trim()).toBe(`127.0.0.1:${h.port} (Stream)`);
    expect((await h.host.execOk(`systemctl is-active ${SOCKET}; systemctl is-enabled ${SOCKET}`)).split('\n').slice(0, 2)).toEqual(['active', 'enabled']);
    // Twice the recipe's limits.maxConnections (4), the runner's limit: see the back-to-back test.
    expect((await h.host.execOk(`systemctl show -P MaxConnections ${SOCKET}`)).trim()).toBe('8');
    const doctor = await h.host.exec(`${CTL} doctor`, { timeoutMs: 90_000 });
    console.log(`[product-host] ${CTL} doctor:\n${doctor.stdout}`);
    expect(doctor.stdout).toMatch(/^ok {4}a container starts and exits$/m);
    // postinst stored nspawn's filter, and a connection's job runs under it (the host's own PID 1
    // runs under none, as on a real machine, so the filter the job reads is the product's).
    expect(await h.host.execOk("grep '^Seccomp:' /proc/1/status")).toBe('Seccomp:\t0\n');
    expect(doctor.stdout).toMatch(DOCTOR_FILTER_STORED);
    const job = await ssh(h.target, "grep '^Seccomp:' /proc/self/status", { timeoutMs: 60_000 });
    expect({ code: job.exitCode, out: job.stdout }).toEqual({ code: 0, out: 'Seccomp:\t2\n' });
    expect(await filterJournal(h)).toBe('');
    // sshd's 255 at the client's goodbye is how every connection ends: no instance is "failed"
    // (once the connection's unit is gone, which can be a moment after the client).
    await waitNoContainers(h);
    const ends = (await h.host.execOk(`journalctl --sync; journalctl -q -o cat -u '${NAME}@*' | grep -E 'Deactivated successfully|Failed with result' || true`))
      .trim()
      .split('\n');
    expect(ends.filter((l) => /Failed with result/.test(l))).toEqual([]);
    expect(ends.filter((l) => /Deactivated successfully/.test(l)).length).toBeGreaterThan(0);
    // An upgrade of systemd-nspawn, libseccomp or libsystemd-shared activates the package's file
    // trigger (dpkg-trigger does what unpacking the new package would): the postinst stores the
    // filter again.
    const shared = (await h.host.execOk("dpkg -L libsystemd-shared | grep '/libsystemd-shared-[0-9]*\\.so$'")).trim();
    for (const file of ['/usr/bin/systemd-nspawn', '/usr/lib/x86_64-linux-gnu/libseccomp.so.2', shared]) {
      const before = await storedFilterInode(h);
      expect(before).not.toBe('none');
      await h.host.execOk(`dpkg-trigger --no-await ${file} && dpkg --triggers-only --pending`, { timeoutMs: 90_000 });
      expect([before, 'none'], file).not.toContain(await storedFilterInode(h));
    }
    expect(await h.host.execOk(`${CTL} doctor`, { timeoutMs: 90_000 })).toMatch(DOCTOR_FILTER_STORED);
  });

  it('1. one container per connection: machinectl shows one machine per open connection, hostnames differ', async () => {
    await checkOneContainerPerConnection(a!, 3);
  });

  it('2. ControlMaster: the commands of one connection share one container and its files', async () => {
    const h = a!;
    await waitNoContainers(h);
    const before = await accepted(h);
    const m = await Multiplexed.open(h.target);
    try {
      const r1 = await m.run('hostname; echo first > ~/shared');
      const r2 = await m.run('hostname; cat ~/shared; echo second >> ~/shared');
      const r3 = await m.run('hostname; cat ~/shared');
      for (const r of [r1, r2, r3]) expect({ code: r.exitCode, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      const host = r1.stdout.split('\n')[0];
      expect(r2.stdout).toBe(`${host}\nfirst\n`);
      expect(r3.stdout).toBe(`${host}\nfirst\nsecond\n`);
      expect(await machines(h)).toEqual([host]);
      expect(await accepted(h)).toBe(before + 1);
    } finally {
      await m.close();
    }
    await waitNoContainers(h);
  });

  it('3. as GitLab Runner does it: one connection, a `bash -l` session per stage, script on stdin, no pty', async () => {
    await checkRunnerJob(a!, git!, '127.0.0.1');
  });

  it('at the limit runner-config prints (4), 200 jobs back to back, each connecting as the last one ends: none refused or reset', async () => {
    const h = a!;
    await waitNoContainers(h);
    const limit = Number(/^\s*limit = (\d+)$/m.exec(await h.host.execOk(`${CTL} runner-config`))?.[1]);
    expect(limit).toBe(4);
    const r = await runBackToBack(h.target, limit, 200, socketCounter(h));
    timings.backToBack4 = r.seconds;
    console.log(
      `[product-host] back to back at limit ${limit}: ${r.jobs} jobs in ${r.seconds} s, at most ${r.peakConnections} connections at once, ${r.refused.length} refused, ${r.failed.length} failed`,
    );
    expect({ refused: r.refused, failed: r.failed, refusedBySocket: r.refusedBySocket }).toEqual({ refused: [], failed: [], refusedBySocket: 0 });
    expect(r.jobs).toBe(200);
    // Containers still torn down take slots above the runner's limit, never above the socket's.
    expect(r.peakConnections).toBeLessThanOrEqual(await socketCounter(h)('MaxConnections'));
    await waitNoContainers(h);
  });

  it('4. nothing persists; / is read-only; the home is writable and its tmpfs size holds', async () => {
    await checkNothingPersists(a!, HOME_BYTES);
  });

  it('5. host keys: the same on every connection, different on another host, strict checking passes with known-hosts', async () => {
    const h = a!;
    const other = b!;
    const scan = async (ph: ProductHost) => {
      const r = await execa('ssh-keyscan', ['-T', '20', '-p', String(ph.port), '-t', 'ecdsa,rsa,ed25519', '127.0.0.1'], { reject: false });
      return r.stdout
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .sort();
    };
    const before = await accepted(h);
    const [scan1, scan2] = [await scan(h), await scan(h)];
    expect(await accepted(h)).toBeGreaterThanOrEqual(before + 2);
    expect(scan1).toHaveLength(3);
    expect(scan2).toEqual(scan1);
    const { file, lines } = await knownHostsFile(h);
    // ECDSA first: GitLab Runner's preference.
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['ecdsa-sha2-nistp256', 'ssh-rsa', 'ssh-ed25519']);
    expect([...lines].sort()).toEqual(scan1);
    for (const alg of ['ecdsa-sha2-nistp256', 'rsa-sha2-512', 'ssh-ed25519']) {
      const r = await ssh({ ...h.target, knownHosts: file }, 'echo strict-ok', { extra: ['-o', `HostKeyAlgorithms=${alg}`] });
      expect({ alg, code: r.exitCode, out: r.stdout, err: r.stderr }).toEqual({ alg, code: 0, out: 'strict-ok\n', err: '' });
    }
    // The other host's keys: all different, and refused for this host.
    const theirs = await knownHostsFile(other, h.port);
    const keysOf = (ls: string[]) => ls.map((l) => l.split(' ')[2]);
    for (const k of keysOf(theirs.lines)) expect(keysOf(lines)).not.toContain(k);
    const wrong = await ssh({ ...h.target, knownHosts: theirs.file }, 'echo should-not-run');
    expect(wrong.exitCode).toBe(255);
    expect(wrong.stderr).toMatch(/Host key verification failed/);
    expect(wrong.stdout).toBe('');
    const own = await knownHostsFile(other);
    expect(await sshOk({ ...other.target, knownHosts: own.file }, 'echo other-ok')).toBe('other-ok\n');
  });

  it('6. isolation and limits: unprivileged root, NPROC stops a fork storm in its container alone, unit properties set', async () => {
    const h = a!;
    await waitNoContainers(h);
    const storm = new HeldJob(
      h.target,
      `cat /proc/self/uid_map; ulimit -u
exec perl -e '$| = 1; my (@kids, $err);
for (1 .. 1000) { my $p = fork(); if (!defined $p) { $err = "$!"; last } if (!$p) { sleep 120; exit 0 } push @kids, $p }
print "forked ", scalar(@kids), " then: $err\\n";
<STDIN>; kill "KILL", @kids; waitpid($_, 0) for @kids; print "reaped\\n"'`,
    );
    try {
      const m = await storm.waitFor(/forked (\d+) then: (.*)/, 60_000);
      const [inside, outside, count] = storm.stdout.split('\n')[0]!.trim().split(/\s+/).map(Number);
      expect({ inside, count }).toEqual({ inside: 0, count: 65536 });
      // Container root is a uid far from host root; the builder is 9000 above it.
      expect(outside).toBeGreaterThan(65535);
      const procs = await containerProcesses(h);
      expect(procs.some((p) => Number(p.split(/\s+/)[0]) === outside! + 9000)).toBe(true);
      expect(storm.stdout.split('\n')[1]).toBe('256');
      const forked = Number(m[1]);
      console.log(`[product-host] fork storm: ${forked} children, then "${m[2]}"`);
      expect(m[2]).toBe('Resource temporarily unavailable');
      expect(forked).toBeGreaterThan(200);
      expect(forked).toBeLessThan(256);

      // The next connection, while the storm's children still live: its own uids, its own limit.
      const nextConn = await ssh(
        h.target,
        `perl -e 'my @k; for (1 .. 200) { my $p = fork(); die "fork $_: $!\\n" unless defined $p; if (!$p) { sleep 3; exit 0 } push @k, $p }
print "forked ", scalar(@k), "\\n"; waitpid($_, 0) for @k'`,
        { timeoutMs: 60_000 },
      );
      expect({ code: nextConn.exitCode, out: nextConn.stdout, err: nextConn.stderr }).toEqual({ code: 0, out: 'forked 200\n', err: '' });

      // The unit's cgroup properties, as the recipe set them.
      const machine = (await machines(h))[0]!;
      const unit = await unitOf(h, machine);
      const props = await h.host.execOk(`systemctl show -p MemoryMax,TasksMax,CPUQuotaPerSecUSec,RuntimeMaxUSec,Slice,Delegate '${unit}'`);
      expect(
        Object.fromEntries(
          props
            .trim()
            .split('\n')
            .map((l) => l.split('=') as [string, string]),
        ),
      ).toEqual({ MemoryMax: String(2 ** 30), TasksMax: '256', CPUQuotaPerSecUSec: '2s', RuntimeMaxUSec: '3h', Slice: 'machine.slice', Delegate: 'yes' });
      // Honestly: this nested host gets the memory, pids and cpu controllers read-only (the nested cgroup v1 hybrid of these build machines),
      // so systemd accepts these properties but cannot enforce them here; only a real cgroup v2
      // host shows enforcement. What holds here is the rlimit above and the tmpfs size (test 4).
      const fsType = (await h.host.execOk('stat -fc %T /sys/fs/cgroup')).trim();
      const mounts = await h.host.execOk(`awk '$5 ~ "^/sys/fs/cgroup/(memory|pids|cpu)$" { print $5, $6 }' /proc/self/mountinfo`);
      if (fsType === 'cgroup2fs') {
        const controllers = await h.host.execOk('cat /sys/fs/cgroup/cgroup.controllers');
        console.log(`[product-host] cgroup v2 with controllers: ${controllers.trim()}`);
        if (/\bmemory\b/.test(controllers) && /\bpids\b/.test(controllers)) {
          expect(Number((await h.host.execOk(`systemctl show -P TasksCurrent '${unit}'`)).trim())).toBeGreaterThan(200);
        }
      } else {
        console.log(
          `[product-host] cgroup limits set on ${unit} but NOT enforceable in this nested host (cgroup v1 hybrid, controllers read-only):\n${mounts}`,
        );
        expect(mounts).toMatch(/^\/sys\/fs\/cgroup\/pids ro,/m);
        expect(mounts).toMatch(/^\/sys\/fs\/cgroup\/memory ro,/m);
      }
      storm.send('done');
      await storm.waitFor(/^reaped$/m);
      expect(await storm.end()).toBe(0);
    } finally {
      storm.kill();
    }
    await waitNoContainers(h);
  });

  it('7. upgrade under load: apt-get install of 1.1.0 completes while a job runs; the job finishes; new connections get 1.1.0', async () => {
    const h = a!;
    const v110 = await next!;
    await repo!.add(v110);
    await checkUpgradeUnderLoad(h, {
      from: '1.0.0',
      to: '1.1.0',
      upgrade: async () => {
        await h.host.execOk('apt-get update', { env: APT_ENV, timeoutMs: 120_000 });
        await h.host.execOk(`apt-get install -y ${NAME}`, { env: APT_ENV, timeoutMs: 300_000 });
      },
    });
    expect(await h.host.execOk(`dpkg-query -W -f '\${Package} \${Version} \${db:Status-Abbrev}\\n' '${NAME}*'`)).toBe(
      `${NAME} 1.1.0 ii \n${NAME}-archive-keyring 1 ii \n${NAME}-image-1.0.0 1.0.0 ii \n${NAME}-image-1.1.0 1.1.0 ii \n`,
    );
  });

  it("image dates and outdated: status and versions date both images; outdated against Debian's mirror: the fresh image nothing behind (exit 0), a copy with one security package made older behind (exit 1, marked)", async () => {
    const h = a!;
    const image = (v: string) => `/usr/lib/${NAME}/images/${v}`;
    // Both images were built from the same mirror state, so they share their date.
    const env = Object.fromEntries(
      fs
        .readFileSync(h.host.path(`${image('1.1.0')}${IMAGE_INFO_PATH}`), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const epoch = Number(env.IMAGE_DATE);
    expect(env.IMAGE_DATE_UTC).toBe(new Date(epoch * 1000).toISOString().replace('.000Z', 'Z'));
    const date = `${new Date(epoch * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    const ages = () => {
      const d = Math.floor((Date.now() / 1000 - epoch) / 86_400);
      return d === 1 ? '1 day' : `${d} days`;
    };
    const agesAround = async <T>(f: () => Promise<T>) => {
      const before = ages();
      const r = await f();
      return { r, ages: [before, ages()].join('|') };
    };
    const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const status = await agesAround(() => h.host.execOk(`${CTL} status`));
    expect(status.r).toMatch(/^current: {4}1\.1\.0$/m);
    expect(status.r).toMatch(new RegExp(`^image date: ${esc(date)}, (${status.ages}) old `, 'm'));
    const versions = await agesAround(() => h.host.execOk(`${CTL} versions`));
    expect(versions.r).toMatch(
      new RegExp(`^1\\.0\\.0 +${esc(date)} +(${versions.ages}) +previous\n1\\.1\\.0 +${esc(date)} +(${versions.ages}) +current\n$`, 'm'),
    );

    // A copy of the image's apt files and status in /tmp, as the image is under /usr: apt reads
    // its keyring as _apt.
    const tree = '/tmp/eb-behind';
    try {
      // The host's apt and the image are left as they were, and outdated's temporary directory goes
      // (from a TMPDIR that apt's own user, _apt, can reach, as /tmp: else apt warns that it downloads
      // as root).
      const untouched = `/etc/apt /var/lib/apt /var/cache/apt /var/lib/dpkg ${image('1.1.0')}`;
      await h.host.execOk('mkdir -p /tmp/eb-outdated && touch /root/eb-mark');
      const fresh = await h.host.exec(`${CTL} outdated`, { env: { TMPDIR: '/tmp/eb-outdated' }, timeoutMs: 180_000 });
      expect({ code: fresh.exitCode, out: fresh.stdout, err: fresh.stderr }).toEqual({
        code: 0,
        out: `${NAME} 1.1.0: nothing behind (trixie, trixie-updates, trixie-security)\n`,
        err: '',
      });
      expect(await h.host.execOk(`find ${untouched} -newer /root/eb-mark; ls -A /tmp/eb-outdated`)).toBe('');

      // One package the image has at trixie-security's version, made older in a copy of its dpkg
      // status. Which one the builder's own outdated says: every package made older at once, those
      // that come back with their own version from a security suite, and of them one that no other
      // package's dependency then excludes.
      const record = await loadImageRecord(h.host.path(image('1.1.0')));
      const older = (v: string) => `${v}~eb`;
      const report = await findOutdated({ ...record, packages: record.packages.map((p) => ({ ...p, version: older(p.version) })) }, new Map());
      const dpkgStatus = fs.readFileSync(h.host.path(`${image('1.1.0')}/var/lib/dpkg/status`), 'utf8');
      const pick = report.packages.find((p) => p.security && older(p.available) === p.installed && dependentsAccept(dpkgStatus, p.name, p.installed));
      expect(pick, 'a package of the image from trixie-security').toBeDefined();
      await h.host.execOk(`set -e; img=${tree}${image('1.1.0')}; mkdir -p $img/usr/share $img/var/lib/dpkg ${tree}/var/lib/${NAME}
        cp -a ${image('1.1.0')}/etc $img/; cp -a ${image('1.1.0')}/usr/share/keyrings ${image('1.1.0')}/usr/share/ephemeral-builder $img/usr/share/
        ln -s ../../../usr/lib/${NAME}/images/1.1.0 ${tree}/var/lib/${NAME}/current`);
      // Through the host's shell: its /tmp is a tmpfs of its own.
      await h.host.execOk(`cat > ${tree}${image('1.1.0')}/var/lib/dpkg/status`, { input: setVersion(dpkgStatus, pick!.name, pick!.installed) });
      const behind = await h.host.exec(`${CTL} outdated`, { env: { EB_ROOT: tree, TMPDIR: '/tmp/eb-outdated' }, timeoutMs: 180_000 });
      console.log(`[product-host] ${CTL} outdated, ${pick!.name} made ${pick!.installed}:\n${behind.stdout}`);
      expect(behind.stderr).toBe('');
      const lines = behind.stdout.trim().split('\n');
      expect(lines[0]).toBe(`${NAME} 1.1.0: 1 package behind, 1 with a security fix`);
      expect(lines.slice(1).map((l) => l.split(/ +/))).toEqual([
        ['package', 'installed', 'available', 'from'],
        [pick!.name, pick!.installed, pick!.available, pick!.suite, 'SECURITY'],
      ]);
      expect(pick!.suite).toBe('trixie-security');
      expect(behind.exitCode).toBe(1);
      expect(await h.host.execOk(`find ${untouched} -newer /root/eb-mark; ls -A /tmp/eb-outdated`)).toBe('');
    } finally {
      await h.host.exec(`rm -rf ${tree} /tmp/eb-outdated /root/eb-mark`);
    }
  });

  it('8. rollback: ctl use, then an apt downgrade; gc refuses the image a live container uses', async () => {
    const h = a!;
    const status = (pkg: string) => h.host.execOk(`dpkg-query -W -f '\${db:Status-Abbrev}' ${pkg} 2>/dev/null || true`);
    await checkRollback(h, {
      current: '1.1.0',
      back: '1.0.0',
      installedBy: 'dpkg',
      downgrade: () => h.host.execOk(`apt-get install -y --allow-downgrades ${NAME}=1.0.0`, { env: APT_ENV, timeoutMs: 300_000 }),
      refuseRemoval: async () => {
        // apt itself cannot take the image away from under the container: its prerm refuses.
        const r = await h.host.exec(`apt-get remove -y ${NAME}-image-1.1.0`, { env: APT_ENV, timeoutMs: 120_000 });
        expect(r.exitCode).not.toBe(0);
        expect(r.stdout + r.stderr).toMatch(/image 1\.1\.0 is in use by/);
        expect(await status(`${NAME}-image-1.1.0`)).toBe('ii ');
      },
      afterGc: async () => {
        expect(await status(`${NAME}-image-1.1.0`)).not.toBe('ii ');
        expect((await h.host.execOk(`dpkg-query -W -f '\${Version}' ${NAME}`)).trim()).toBe('1.0.0');
      },
    });
  });

  it('9. purge leaves nothing behind: no package files, no /etc or /var/lib state, no units', async () => {
    const h = a!;
    await waitNoContainers(h);
    const pkgs = (await h.host.execOk(`dpkg-query -W -f '\${Package}\\n' '${NAME}*'`)).trim().split('\n');
    const installed = (await h.host.execOk(`dpkg-query -W -f '\${Package} \${db:Status-Abbrev}\\n' '${NAME}*' | awk '$2 == "ii" { print $1 }'`))
      .trim()
      .split('\n');
    const owned = (await h.host.execOk(`dpkg -L ${installed.join(' ')}`))
      .trim()
      .split('\n')
      .filter((p) => p.startsWith('/') && p !== '/.');
    expect(owned.length).toBeGreaterThan(1000);
    await h.host.execOk(`apt-get purge -y ${pkgs.join(' ')}`, { env: APT_ENV, timeoutMs: 300_000 });

    expect(
      (await h.host.execOk(`dpkg-query -W -f '\${Package} \${db:Status-Abbrev}\\n' '${NAME}*' 2>/dev/null | awk '$2 != "un" && $2 != "pn"' || true`)).trim(),
    ).toBe('');
    // Every file the packages owned is gone; directories too, unless another package shares them.
    const left = await h.host.execOk(
      `while read -r p; do if [ -e "$p" ] || [ -L "$p" ]; then [ -d "$p" ] && ! [ -L "$p" ] && dpkg -S "$p" >/dev/null 2>&1 && continue; echo "$p"; fi; done`,
      { input: owned.join('\n') },
    );
    expect(left.trim()).toBe('');
    for (const p of [
      `/etc/${NAME}`,
      `/var/lib/${NAME}`,
      `/usr/lib/${NAME}`,
      `/usr/sbin/${CTL}`,
      `/usr/lib/systemd/system/${SOCKET}`,
      `/usr/lib/systemd/system/${NAME}@.service`,
      `/etc/systemd/system/sockets.target.wants/${SOCKET}`,
    ]) {
      expect(existsOn(h, p), p).toBe(false);
    }
    // list-unit-files exits 1 when nothing matches.
    expect((await h.host.exec(`systemctl list-unit-files --no-legend '${NAME}*'`)).stdout.trim()).toBe('');
    expect((await h.host.execOk(`systemctl list-units --all --no-legend '${NAME}*'`)).trim()).toBe('');
    expect(await ssh(h.target, 'true', { timeoutMs: 20_000 })).toMatchObject({ exitCode: 255 });
    // Anything else named after us on the whole host: only what the admin made (the apt source,
    // the port drop-in) and apt's download cache are left; the keyring went with its package.
    const named = (await h.host.execOk(`find / -xdev -name '*${NAME}*' -not -path '/proc/*' 2>/dev/null | sort`)).trim().split('\n');
    const adminOwn = [`/etc/apt/sources.list.d/${NAME}.sources`, path.dirname(PORT_DROP_IN)];
    expect(named.filter((p) => !adminOwn.includes(p) && !p.startsWith('/var/cache/apt/archives/'))).toEqual([]);
    expect(named.filter((p) => p.startsWith('/var/cache/apt/archives/')).every((p) => p.endsWith('.deb'))).toBe(true);
    expect(await h.host.exec(`test -e ${RELEASE_FILE}`)).toMatchObject({ exitCode: 1 });
  });
});
