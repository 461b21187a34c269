// The product on an older host without our apt repository: a fresh Debian
// 12 host (systemd 252) gets the release's tarball, SHA256SUMS, its signature, the keyring and
// install.sh, as an admin downloads them, and runs `sh install.sh install --fingerprint FPR`. Then,
// over real SSH from this machine, the same checks as on the apt host: one container per
// connection (1), nothing persists (4), a tampered tarball, a tampered SHA256SUMS and an upgrade
// interrupted while it unpacks each leaving 1.0.0 serving jobs, an upgrade under load with
// `sh install.sh upgrade` (7), a rollback with gc refusing an image in use (8); and
// `sh install.sh uninstall` leaves nothing behind.
// The host tree carries zstd, which install.sh needs and a minimal Debian 12 lacks (an admin
// would `apt-get install zstd` from Debian; the tests stay off the network).
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/env.ts';
import { artifacts, CTL, NAME, type Artifacts } from './product/artifacts.ts';
import {
  checkConnectionFlood,
  checkNothingPersists,
  checkOneContainerPerConnection,
  checkRollback,
  checkUpgradeUnderLoad,
  releaseOfNewConnection,
} from './product/checks.ts';
import { disposeTrackedKeys } from './harness/index.ts';
import {
  bootProductHost,
  currentVersion,
  DOCTOR_FILTER_STORED,
  download,
  downloadDir,
  filterJournal,
  installShCommand,
  PORT_DROP_IN,
  runInstallSh,
  SOCKET,
  STORED_FILTER,
  storedFilterInode,
  takeRunnerKey,
  waitNoContainers,
  type ProductHost,
} from './product/host.ts';
import { ssh, sshOk, waitFor } from './product/ssh.ts';

const NEEDS = { root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'nsenter', 'setpriv', 'zstd', 'tar', 'dpkg-deb', 'ssh'] };
const HOME_BYTES = 256 * 2 ** 20;
const since = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;

describeWith(NEEDS, 'product on a Debian 12 host, installed with install.sh (no apt repository)', () => {
  let h: ProductHost | undefined;
  let v100: Artifacts;
  let next: Promise<Artifacts> | undefined;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const t0 = performance.now();
    const first = artifacts('1.0.0');
    next = artifacts('1.1.0');
    next.catch(() => undefined);
    h = await bootProductHost('bookworm', 'install-sh', { extraPackages: ['zstd'] });
    timings.boot = since(t0);
    v100 = await first;
    const t1 = performance.now();
    // From an admin's shell with a careless umask: what install.sh makes must not take it.
    const out = await runInstallSh(h, v100, 'install', '000');
    console.log(`[install-sh] ${out.trim()}`);
    timings.installSh = since(t1);
    takeRunnerKey(h);
  });

  afterAll(async () => {
    await h?.poweroff();
    await Promise.allSettled([next]);
    await disposeTrackedKeys();
    console.log(`[install-sh] timings (s): ${JSON.stringify(timings)}`);
  });

  it("installs on Debian 12 without apt: the socket on the admin's port, nothing in dpkg", async () => {
    const ph = h!;
    expect((await ph.host.execOk('. /etc/os-release; echo $VERSION_CODENAME')).trim()).toBe('bookworm');
    expect((await ph.host.execOk('systemctl --version')).split('\n')[0]).toMatch(/^systemd 252 /);
    expect(await ph.host.execOk(`dpkg-query -W '${NAME}*' 2>&1 || true`)).toMatch(/no packages found/);
    expect((await ph.host.exec(`grep -rl ${NAME} /etc/apt`)).stdout).toBe('');
    const status = await ph.host.execOk(`${CTL} status`);
    expect(status).toMatch(/^installed: {2}by install\.sh/m);
    expect(status).toMatch(/^current: {4}1\.0\.0$/m);
    expect((await ph.host.execOk(`systemctl show -P Listen ${SOCKET}`)).trim()).toBe(`127.0.0.1:${ph.port} (Stream)`);
    expect((await ph.host.execOk(`systemctl is-enabled ${SOCKET}`)).trim()).toBe('enabled');
    expect(await releaseOfNewConnection(ph)).toBe('1.0.0');
    // install.sh stored nspawn's filter, on systemd 252 too.
    expect((await ph.host.exec(`${CTL} doctor`, { timeoutMs: 90_000 })).stdout).toMatch(DOCTOR_FILTER_STORED);
  });

  it('an upgrade of systemd-nspawn, libseccomp or libsystemd-shared (no dpkg trigger here): the first connection finds the stored filter stale and has it stored again', async () => {
    const ph = h!;
    // The files of the libraries nspawn loads (the links resolved: a package upgrade replaces the file).
    const libs = (await ph.host.execOk(`ldd /usr/bin/systemd-nspawn | awk '$3 ~ /^\\// { print $3 }' | xargs readlink -f`)).trim().split('\n');
    const lib = (name: RegExp) => libs.find((p) => name.test(p));
    const upgrades = {
      'systemd-nspawn': '/usr/bin/systemd-nspawn',
      libseccomp: lib(/\/libseccomp\.so[.\d]*$/),
      'libsystemd-shared': lib(/\/libsystemd-shared-\d+\.so$/),
    };
    for (const [what, file] of Object.entries(upgrades)) {
      expect({ what, file }).toEqual({ what, file: expect.stringMatching(/^\//) });
      const before = await storedFilterInode(ph);
      expect(before).not.toBe('none');
      // What unpacking a new package does: a new file renamed over the old one.
      await ph.host.execOk(`cp -a ${file} ${file}.eb-new && mv ${file}.eb-new ${file}`);
      expect((await ph.host.exec(`perl /usr/lib/${NAME}/syscall-filter check ${STORED_FILTER}`)).stderr, what).toMatch(/ is stale: /);
      const linesBefore = await filterJournal(ph);
      expect(await sshOk(ph.target, 'echo ok', { timeoutMs: 60_000 })).toBe('ok\n');
      // That connection compiled nspawn's filter, said why, and started the transient unit that
      // stores the filter of the new nspawn.
      expect((await filterJournal(ph)).slice(linesBefore.length), what).toMatch(
        new RegExp(`^[^\n]* is stale: .*nspawn compiles its filter for this container, and ${NAME}-refresh-filter\\.service stores it again\n$`),
      );
      await waitFor('the stored filter to be written again', async () => ((await storedFilterInode(ph)) !== 'none' ? true : undefined), 60_000);
      expect(await storedFilterInode(ph)).not.toBe(before);
      await waitFor(
        'the refresh unit to be gone',
        async () => ((await ph.host.exec(`systemctl is-active ${NAME}-refresh-filter`)).exitCode !== 0 ? true : undefined),
        30_000,
      );
      // The next connection loads it, with nothing to say (a compiled filter reads Seccomp: 2 too).
      const linesAfter = await filterJournal(ph);
      expect(await sshOk(ph.target, "grep '^Seccomp:' /proc/self/status", { timeoutMs: 60_000 })).toBe('Seccomp:\t2\n');
      expect(await filterJournal(ph)).toBe(linesAfter);
    }
    expect(await ph.host.execOk(`journalctl -q -o cat -u ${NAME}-refresh-filter`)).toMatch(/syscall-filter: \d+ filters, /);
    expect((await ph.host.exec(`${CTL} doctor`, { timeoutMs: 90_000 })).stdout).toMatch(DOCTOR_FILTER_STORED);
  });

  it("under an admin's umask 000, install.sh and the host tool make nothing group- or world-writable, and write through no link planted at a temporary name", async () => {
    const ph = h!;
    // Everything install.sh made (beforeAll ran it with umask 000), but the image trees, which
    // keep the modes of their archive.
    const writable = await ph.host.execOk(
      `find /etc/${NAME} /var/lib/${NAME} /usr/lib/${NAME} /usr/sbin/${CTL} /usr/lib/systemd/system/${NAME}.socket /usr/lib/systemd/system/${NAME}@.service -path '/usr/lib/${NAME}/images/*' -prune -o ! -type l -perm /022 -printf '%m %p\\n'`,
    );
    expect(writable).toBe('');
    // A link where a host script once wrote for a moment (NAME.tmp.PID; the shell's PID is ctl's
    // after exec), pointing at a file that must not be made.
    const known = `/etc/${NAME}/runner/known_hosts`;
    try {
      await ph.host.execOk(`sh -c 'umask 000; ln -s /root/planted "${known}.tmp.$$"; exec ${CTL} known-hosts >/dev/null'`);
      expect(await ph.host.exec('test -e /root/planted')).toMatchObject({ exitCode: 1 });
      expect((await ph.host.execOk(`stat -c '%F %a %U' ${known}`)).trim()).toBe('regular file 644 root');
      expect(await ph.host.execOk(`cat ${known}`)).toMatch(/^\[127\.0\.0\.1\]:\d+ ecdsa-sha2-nistp256 /);
    } finally {
      await ph.host.exec(`rm -f ${known}.tmp.* /root/planted`);
    }
  });

  it("a flood of 500 connections in 2 s to the host's port: the socket keeps serving on systemd 252, and the next job runs within 10 s", async () => {
    await checkConnectionFlood(h!);
  });

  it('1. one container per connection: machinectl shows one machine per open connection, hostnames differ', async () => {
    await checkOneContainerPerConnection(h!, 3);
  });

  it('4. nothing persists; / is read-only; the home is writable and its tmpfs size holds', async () => {
    await checkNothingPersists(h!, HOME_BYTES);
  });

  it('a tampered tarball, a tampered SHA256SUMS, and an upgrade interrupted while it unpacks each leave 1.0.0 serving jobs', async () => {
    const ph = h!;
    const v110 = await next!;
    const signed = await download(ph, v110);
    const tarball = path.basename(v110.tarball);
    const stillServing = async (after: string) => {
      expect(await currentVersion(ph), after).toBe('1.0.0');
      expect(await releaseOfNewConnection(ph), after).toBe('1.0.0');
      expect(
        (await ph.host.execOk(`ls -A /usr/lib/${NAME} /var/lib/${NAME}`)).split('\n').filter((f) => f.startsWith('.') || f === 'lock'),
        after,
      ).toEqual([]);
    };
    const copy = async (label: string) => {
      await ph.host.execOk(`rm -rf /root/${label} && cp -a ${signed} /root/${label}`);
      return `/root/${label}`;
    };

    // One flipped byte in the tarball; SHA256SUMS and its signature as released.
    const t1 = await copy('tampered-tarball');
    await ph.host.execOk(`printf '\\001' | dd of=${t1}/${tarball} bs=1 seek=4096 conv=notrunc status=none`);
    const r1 = await ph.host.exec(`cd ${t1} && ${await installShCommand('upgrade', v110)}`, { timeoutMs: 120_000 });
    expect(r1.exitCode).not.toBe(0);
    expect(r1.stderr).toMatch(/does not match SHA256SUMS \(got [0-9a-f]{64}, want [0-9a-f]{64}\)/);
    await stillServing('a tampered tarball');

    // The tarball changed and SHA256SUMS made to match it, as an attacker who can change both would.
    const t2 = await copy('tampered-sums');
    await ph.host.execOk(
      `cd ${t2} && printf x >>${tarball} && sed -i "s/^[0-9a-f]*  ${tarball}$/$(sha256sum ${tarball} | cut -d' ' -f1)  ${tarball}/" SHA256SUMS && sha256sum -c --ignore-missing SHA256SUMS`,
    );
    const r2 = await ph.host.exec(`cd ${t2} && ${await installShCommand('upgrade', v110)}`, { timeoutMs: 120_000 });
    expect(r2.exitCode).not.toBe(0);
    expect(r2.stderr).toMatch(/carries no good signature by [0-9A-F]{40} \(.*BAD signature/);
    await stillServing('a tampered SHA256SUMS');

    // A TERM to the upgrade's process group while tar unpacks (its own session: a background
    // process of a script ignores SIGINT, so this is the signal a service manager or kill sends).
    // The group is stopped first and tar seen still running, so the TERM lands before the switch.
    const r3 = await ph.host.exec(
      `cd ${signed}
setsid ${await installShCommand('upgrade', v110)} >/root/interrupted.log 2>&1 &
pid=$!
unpacking() { pgrep -g "$pid" -f '^tar --zstd -xpf' >/dev/null; }
i=0
until unpacking; do
  i=$((i + 1)); [ "$i" -lt 6000 ] || { echo "it never unpacked"; exit 3; }
  kill -0 "$pid" 2>/dev/null || { echo "it ended before it unpacked"; cat /root/interrupted.log; exit 4; }
  sleep 0.01
done
kill -STOP "-$pid"
unpacking || { kill -CONT "-$pid"; echo "the unpacking ended before the group was stopped"; exit 5; }
kill -TERM "-$pid"
kill -CONT "-$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
cat /root/interrupted.log`,
      { timeoutMs: 300_000 },
    );
    expect(r3.exitCode, r3.stdout + r3.stderr).toBe(0);
    expect(r3.stdout).toMatch(/verified \.\/\S+\.tar\.zst: ephemeral-builder 1\.1\.0/);
    expect(r3.stdout).not.toMatch(/is installed; new connections get/);
    await stillServing('an upgrade interrupted while it unpacked');
    await ph.host.execOk(`rm -rf ${t1} ${t2} /root/interrupted.log`);
  });

  it('7. upgrade under load: `sh install.sh upgrade` to 1.1.0 completes while a job runs; new connections get 1.1.0', async () => {
    const ph = h!;
    const v110 = await next!;
    await checkUpgradeUnderLoad(ph, { from: '1.0.0', to: '1.1.0', upgrade: () => runInstallSh(ph, v110, 'upgrade') });
    expect((await ph.host.execOk(`ls /usr/lib/${NAME}/images`)).trim().split('\n')).toEqual(['1.0.0', '1.1.0']);
  });

  it('8. rollback: ctl use 1.0.0, then install.sh with the 1.0.0 release; gc refuses the image a live container uses', async () => {
    const ph = h!;
    await checkRollback(ph, { current: '1.1.0', back: '1.0.0', installedBy: 'install.sh', downgrade: () => runInstallSh(ph, v100, 'install') });
    expect(await ph.host.execOk(`${CTL} --version`)).toBe(`${CTL} 1.0.0\n`);
  });

  it("`sh install.sh uninstall` leaves nothing behind but the admin's own files", async () => {
    const ph = h!;
    await waitNoContainers(ph);
    await ph.host.execOk(`sh ${downloadDir(v100)}/install.sh uninstall`, { timeoutMs: 120_000 });
    const named = (await ph.host.execOk(`find / -xdev -name '*${NAME}*' -not -path '/proc/*' 2>/dev/null | sort`)).trim().split('\n').filter(Boolean);
    // The downloads and the port drop-in are the admin's.
    const downloads = (p: string) => p.startsWith(`/root/${NAME}-`);
    expect(named.filter((p) => !downloads(p) && p !== PORT_DROP_IN.replace(/\/[^/]+$/, ''))).toEqual([]);
    // list-unit-files exits 1 when nothing matches.
    expect((await ph.host.exec(`systemctl list-unit-files --no-legend '${NAME}*'`)).stdout.trim()).toBe('');
    expect(await ssh(ph.target, 'true', { timeoutMs: 20_000 })).toMatchObject({ exitCode: 255 });
  });
});
