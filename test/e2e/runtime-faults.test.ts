// Runtime faults and load on a real host: the "faults" build
// of recipes/minimal.ts (limits.maxConnections 16, limits.runtime 20s, limits.addressSpace 1G; see
// product/artifacts.ts) installed with apt on a booted Debian 13 host, driven from this machine
// over real SSH and raw TCP: sshd killed mid-job, 200 jobs back to back at the runner's limit, a
// 64-connection storm, a fork bomb, a memory hog, a full home, a job past its runtime, a socket
// restart and a host reboot. After each, nothing may be left: no machine, no connection unit, no
// container process.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/env.ts';
import { artifacts, CTL, NAME, USER, type Artifacts } from './product/artifacts.ts';
import {
  bootProductHost,
  connectionUnits,
  containerProcesses,
  installFromRepo,
  machines,
  oneConnectionUnit,
  SOCKET,
  socketCounter,
  waitNoContainers,
  type ProductHost,
} from './product/host.ts';
import { makeProductRepo, type ProductRepo } from './product/repo.ts';
import { runBackToBack } from './product/runner-load.ts';
import { HeldJob, ssh, sshOk, waitFor } from './product/ssh.ts';

const NEEDS = { root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'nsenter', 'setpriv', 'zstd', 'tar', 'dpkg-deb', 'gpg', 'gpgv', 'ssh', 'ar'] };
/** The faults build's limits.maxConnections: the runner's limit; the socket allows twice as many. */
const MAX_JOBS = 16;
const MAX_CONNECTIONS = 2 * MAX_JOBS;
const RUNTIME_SECONDS = 20;
const ADDRESS_SPACE = 2 ** 30;
const HOME_BYTES = 256 * 2 ** 20;

const since = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;

/** Wall time of a command inside the host, as seen from this machine (nsenter included). */
async function timed(ph: ProductHost, command: string): Promise<{ seconds: number; exitCode: number; stdout: string }> {
  const t0 = performance.now();
  const r = await ph.host.exec(command, { timeoutMs: 30_000 });
  return { seconds: since(t0), exitCode: r.exitCode, stdout: r.stdout };
}

/** What the host leaves of a container once it is gone: its machine, unit, scope, processes, mounts. */
async function leftovers(ph: ProductHost, machine: string): Promise<string[]> {
  const found: string[] = [];
  if ((await machines(ph)).includes(machine)) found.push(`machine ${machine}`);
  for (const u of await connectionUnits(ph)) found.push(`unit ${u}`);
  // Scopes and mount units name the machine, the latter escaped ("-" is \x2d in unit names).
  const escaped = machine.replaceAll('-', '\\x2d');
  const units = await ph.host.execOk(`systemctl list-units --all --no-legend --plain --type=scope,mount | grep -F -e '${machine}' -e '${escaped}' || true`);
  if (units.trim()) found.push(`unit ${units.trim()}`);
  const mounts = await ph.host.execOk(`grep -F '${machine}' /proc/1/mountinfo || true`);
  if (mounts.trim()) found.push(`mount ${mounts.trim()}`);
  // The host's /run is its own tmpfs, seen only from inside.
  for (const dir of [`/run/systemd/nspawn/propagate/${machine}`, `/run/systemd/nspawn/unix-export/${machine}`]) {
    if ((await ph.host.exec(`test -e '${dir}'`)).exitCode === 0) found.push(`directory ${dir}`);
  }
  for (const p of await containerProcesses(ph)) found.push(`process ${p}`);
  return found;
}

type Outcome = { kind: 'served' | 'refused' | 'timeout'; ms: number; socket: net.Socket; error?: string };

/** Connects and waits for the SSH banner (served) or the connection to end without one (refused). */
function knock(port: number, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    let settled = false;
    const done = (kind: Outcome['kind'], error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ kind, ms: Math.round(performance.now() - t0), socket, error });
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.on('data', (c: Buffer) => {
      data += c.toString();
      if (data.startsWith('SSH-2.0-') && data.includes('\n')) done('served');
    });
    socket.on('error', (e: NodeJS.ErrnoException) => done('refused', e.code));
    socket.on('close', () => done(data ? 'served' : 'refused', data ? undefined : 'closed without a banner'));
  });
}

describeWith(NEEDS, 'runtime faults and load on a host running the product', () => {
  let h: ProductHost | undefined;
  let repo: ProductRepo | undefined;
  let build: Artifacts;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const t0 = performance.now();
    const [built, booted, made] = await Promise.allSettled([artifacts('faults'), bootProductHost('trixie', 'faults'), makeProductRepo()]);
    if (booted.status === 'fulfilled') h = booted.value;
    if (made.status === 'fulfilled') repo = made.value;
    for (const r of [built, booted, made]) if (r.status === 'rejected') throw r.reason;
    build = (built as PromiseFulfilledResult<Artifacts>).value;
    timings.buildFaults = build.buildSeconds;
    await repo!.add(build);
    timings.aptInstall = await installFromRepo(h!, repo!);
    timings.beforeAll = since(t0);
  });

  afterAll(async () => {
    await h?.poweroff();
    await repo?.dispose();
    console.log(`[runtime-faults] timings (s): ${JSON.stringify(timings)}`);
  });

  it('runs the faults build: MaxConnections 32 (a runner limit of 16), RuntimeMaxSec 20s and RLIMIT_AS 1G come from the recipe', async () => {
    const ph = h!;
    expect((await ph.host.execOk(`systemctl show -P MaxConnections ${SOCKET}`)).trim()).toBe(String(MAX_CONNECTIONS));
    expect(await ph.host.execOk(`grep -E '^(RuntimeMaxSec|TasksMax)=' /usr/lib/systemd/system/${NAME}@.service`)).toBe(
      `TasksMax=256\nRuntimeMaxSec=${RUNTIME_SECONDS}s\n`,
    );
    expect(await ph.host.execOk(`grep -E '^(ADDRESS_SPACE|NPROC)=' /etc/${NAME}/${NAME}.conf`)).toBe('NPROC=256\nADDRESS_SPACE=1G\n');
    expect(await sshOk(ph.target, 'ulimit -u; ulimit -v')).toBe(`256\n${ADDRESS_SPACE / 1024}\n`);
    // compression.deb "zstd": apt on the host installed a .deb with zstd members.
    expect((await execa('ar', ['t', build.imageDeb])).stdout.split('\n')).toContain('data.tar.zst');
  });

  it("kill -9 of a container's sshd mid-job: the connection ends; no machine, mount, scope or process is left", async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const job = new HeldJob(ph.target, 'i=0; while [ $i -lt 600 ]; do i=$((i + 1)); echo "tick $i"; sleep 0.2; done; echo finished');
    try {
      await job.waitFor(/^tick 3$/m, 60_000);
      const machine = (await machines(ph))[0]!;
      const unit = await oneConnectionUnit(ph);
      // nspawn (the unit's main process) → the container's init stub → sshd, the container's PID 2.
      const sshd = (await ph.host.execOk(`n=$(systemctl show -P MainPID '${unit}'); s=$(pgrep -P "$n"); pgrep -P "$s"`)).trim();
      expect(sshd).toMatch(/^\d+$/);
      expect((await ph.host.execOk(`cat /proc/${sshd}/comm`)).trim()).toMatch(/^sshd/);
      // What the container has on the host while it runs, so that "nothing left" below means something.
      expect(await ph.host.exec(`test -d /run/systemd/nspawn/propagate/${machine}`)).toMatchObject({ exitCode: 0 });
      expect(await ph.host.execOk(`grep -cF '${machine}' /proc/1/mountinfo`)).not.toBe('0\n');
      const t0 = performance.now();
      await ph.host.execOk(`kill -9 ${sshd}`);
      const code = await job.wait(30_000);
      const ticks = Number(/tick (\d+)\n?$/.exec(job.stdout)?.[1]);
      console.log(`[runtime-faults] sshd killed after tick ${ticks}: the client saw the connection end in ${since(t0)} s, exit ${code}`);
      expect(code).toBe(255);
      expect(job.stdout).not.toContain('finished');
      await waitFor('the killed container to be cleaned up', async () => ((await leftovers(ph, machine)).length === 0 ? true : undefined), 30_000);
      expect(await leftovers(ph, machine)).toEqual([]);
      expect((await ph.host.execOk('systemctl list-units --failed --no-legend --plain')).trim()).not.toContain(NAME);
    } finally {
      job.kill();
    }
    expect(await sshOk(ph.target, 'echo next')).toBe('next\n');
  });

  it('at the limit runner-config prints (16), 200 jobs back to back, each connecting as the last one ends: none refused or reset', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const limit = Number(/^\s*limit = (\d+)$/m.exec(await ph.host.execOk(`${CTL} runner-config`))?.[1]);
    expect(limit).toBe(MAX_JOBS);
    const r = await runBackToBack(ph.target, limit, 200, socketCounter(ph));
    timings.backToBack16 = r.seconds;
    console.log(
      `[runtime-faults] back to back at limit ${limit}: ${r.jobs} jobs in ${r.seconds} s, at most ${r.peakConnections} connections at once, ${r.refused.length} refused, ${r.failed.length} failed`,
    );
    expect({ refused: r.refused, failed: r.failed, refusedBySocket: r.refusedBySocket }).toEqual({ refused: [], failed: [], refusedBySocket: 0 });
    expect(r.jobs).toBe(200);
    expect(r.peakConnections).toBeLessThanOrEqual(MAX_CONNECTIONS);
    await waitNoContainers(ph, 60_000);
  });

  it(`64 connections at once against MaxConnections ${MAX_CONNECTIONS}: ${MAX_CONNECTIONS} served, the rest refused cleanly, the host responsive, all served after; status counts the refusals`, async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const nRefused = () => socketCounter(ph)('NRefused');
    const refusedBefore = await nRefused();
    const statusRefused = async () => {
      const line = /^refused: +(.*)$/m.exec(await ph.host.execOk(`${CTL} status`))?.[1] ?? '';
      return line === 'none since boot' ? 0 : Number(/^(\d+) connections since boot/.exec(line)?.[1]);
    };
    expect(await statusRefused()).toBe(refusedBefore);
    const since0 = (await ph.host.execOk('date +%s')).trim();
    const t0 = performance.now();
    const outcomes = await Promise.all(Array.from({ length: 64 }, () => knock(ph.port, 60_000)));
    timings.storm = since(t0);
    try {
      const served = outcomes.filter((o) => o.kind === 'served');
      const refused = outcomes.filter((o) => o.kind === 'refused');
      console.log(
        `[runtime-faults] storm: ${served.length} served (slowest banner ${Math.max(...served.map((o) => o.ms))} ms), ${refused.length} refused (slowest ${Math.max(...refused.map((o) => o.ms))} ms: ${[...new Set(refused.map((o) => o.error))].join(', ')})`,
      );
      expect(served).toHaveLength(MAX_CONNECTIONS);
      expect(refused).toHaveLength(64 - MAX_CONNECTIONS);
      // Refused at once, before any container could start: not left hanging.
      expect(Math.max(...refused.map((o) => o.ms))).toBeLessThan(5000);
      // While the 32 containers live, the host answers.
      expect(await machines(ph)).toHaveLength(MAX_CONNECTIONS);
      // While the 32 containers live, systemd and the host tool answer within 2 s.
      for (const [command, bound] of [
        [`systemctl status ${SOCKET} --no-pager`, 2],
        [`${CTL} status`, 2],
      ] as const) {
        const r = await timed(ph, command);
        console.log(`[runtime-faults] during the storm: ${command}: ${r.seconds} s`);
        expect({ command, exitCode: r.exitCode }).toEqual({ command, exitCode: 0 });
        expect(r.seconds).toBeLessThan(bound);
        if (command.startsWith(CTL)) expect(r.stdout).toMatch(new RegExp(`^containers: ${MAX_CONNECTIONS}$`, 'm'));
      }
    } finally {
      for (const o of outcomes) o.socket.destroy();
    }
    const journal = await ph.host.execOk(`journalctl --no-pager -q -o cat -u ${SOCKET} --since @${since0}`);
    expect(journal).toMatch(new RegExp(`Too many incoming connections \\(${MAX_CONNECTIONS}\\)`));
    // The socket counts its refusals, and the host tool shows them to the admin.
    expect((await nRefused()) - refusedBefore).toBe(64 - MAX_CONNECTIONS);
    const status = await ph.host.execOk(`${CTL} status`);
    expect(status).toMatch(
      new RegExp(
        `^refused: +${refusedBefore + 64 - MAX_CONNECTIONS} connections since boot \\(a refused job fails with "Connection reset": keep the runner's limit at ${MAX_JOBS} or lower\\)$`,
        'm',
      ),
    );
    expect(status).toMatch(new RegExp(`at most ${MAX_CONNECTIONS} connections \\(runner limit ${MAX_JOBS}\\)$`, 'm'));
    await waitNoContainers(ph, 60_000);
    expect((await ph.host.execOk('systemctl list-units --failed --no-legend --plain')).trim()).not.toContain(NAME);

    // The storm is over: as many real SSH sessions as the runner runs are served.
    const t1 = performance.now();
    const again = await Promise.all(Array.from({ length: MAX_JOBS }, () => ssh(ph.target, 'echo served', { timeoutMs: 60_000 })));
    timings.sixteenAfterStorm = since(t1);
    expect(again.map((r) => `${r.exitCode} ${r.stdout.trim()}`)).toEqual(again.map(() => '0 served'));
    await waitNoContainers(ph, 60_000);
  });

  it('a fork bomb is contained by the task limit: its container alone, the host and the next connection unharmed', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    // `read` is a builtin: the session still waits for its stdin once the bomb has every slot.
    const bomb = new HeldJob(ph.target, 'cat /proc/self/uid_map; echo bombing; bomb() { bomb | bomb & }; bomb; read -r _; echo over');
    try {
      await bomb.waitFor(/^bombing$/m);
      const builderUid = Number(bomb.stdout.split('\n')[0]!.trim().split(/\s+/)[1]) + 9000;
      await new Promise((r) => setTimeout(r, 4000));
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        counts.push(Number((await ph.host.execOk(`ps -e -o uid= | awk '$1 == ${builderUid}' | wc -l`)).trim()));
        const r = await timed(ph, `systemctl status ${SOCKET} --no-pager`);
        expect(r.seconds).toBeLessThan(2);
      }
      console.log(`[runtime-faults] fork bomb: the builder's processes on the host ${counts.join(', ')} (limit 256)`);
      expect(Math.max(...counts)).toBeLessThanOrEqual(256);
      expect(Math.max(...counts)).toBeGreaterThan(100);
      const next = await ssh(ph.target, 'echo next-ok', { timeoutMs: 60_000 });
      expect({ code: next.exitCode, out: next.stdout }).toEqual({ code: 0, out: 'next-ok\n' });
      // The bomb's processes hold the session's output open, so the job never ends by itself: the
      // runner ends it by closing the connection, and the whole container goes with it, well
      // before the runtime limit would stop it.
      const t0 = performance.now();
      bomb.kill();
      await waitNoContainers(ph, 30_000);
      const seconds = since(t0);
      console.log(`[runtime-faults] fork bomb: container gone ${seconds} s after the connection closed`);
      expect(seconds).toBeLessThan(RUNTIME_SECONDS - 5);
    } finally {
      bomb.kill();
    }
    await waitNoContainers(ph, 40_000);
  });

  it('a memory hog: says what this machine enforces, and only the hog fails', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const fsType = (await ph.host.execOk('stat -fc %T /sys/fs/cgroup')).trim();
    const controllers = fsType === 'cgroup2fs' ? (await ph.host.execOk('cat /sys/fs/cgroup/cgroup.controllers')).trim() : '';
    const memoryEnforced = /\bmemory\b/.test(controllers);
    const neighbour = new HeldJob(ph.target, 'echo ready; read -r _; echo "alive $(hostname)"');
    try {
      await neighbour.waitFor(/^ready$/m);
      if (memoryEnforced) {
        // A cgroup v2 host with the memory controller: four processes, each under RLIMIT_AS, that
        // together pass MemoryMax=1G; the kernel's OOM killer acts inside that container only.
        console.log(`[runtime-faults] memory: cgroup v2 (${controllers}): MemoryMax= is what holds here`);
        const hog = await ssh(ph.target, `for i in 1 2 3 4; do perl -e '$x = "x" x (700 * 1024**2); sleep 10' & done; wait; echo waited`, {
          timeoutMs: 90_000,
        });
        expect(hog.stdout + hog.stderr).not.toBe('waited\n');
      } else {
        const mounts = await ph.host.execOk(`awk '$5 == "/sys/fs/cgroup/memory" { print $6 }' /proc/self/mountinfo`);
        console.log(
          `[runtime-faults] memory: cgroup ${fsType}, memory controller ${mounts.trim() || 'absent'}: MemoryMax= is not enforced here; the per-process address-space limit (RLIMIT_AS ${ADDRESS_SPACE}) is what holds`,
        );
        expect(mounts.trim()).toMatch(/^ro,/);
        const hog = await ssh(
          ph.target,
          `grep 'Max address space' /proc/self/limits
perl -e '$x = "x" x (2 * 1024**3); print "allocated 2G\\n"'; echo "hog=$?"
perl -e '$x = "x" x (256 * 1024**2); print "allocated 256M\\n"'; echo still-here`,
          { timeoutMs: 60_000 },
        );
        expect(hog.exitCode).toBe(0);
        expect(hog.stdout).toMatch(new RegExp(`^Max address space\\s+${ADDRESS_SPACE}\\s+${ADDRESS_SPACE}\\s+bytes`, 'm'));
        expect(hog.stdout).not.toContain('allocated 2G');
        expect(hog.stderr).toMatch(/Out of memory/);
        expect(hog.stdout).toMatch(/^hog=[1-9]\d*$/m);
        expect(hog.stdout).toContain('allocated 256M\nstill-here\n');
      }
      neighbour.send('still there?');
      await neighbour.waitFor(/^alive /m);
    } finally {
      await neighbour.end().catch(() => neighbour.kill());
    }
    await waitNoContainers(ph);
  });

  it('filling the tmpfs home fails only that job', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const neighbour = new HeldJob(
      ph.target,
      'dd if=/dev/zero of=~/mine bs=1M count=64 status=none; echo ready; read -r _; dd if=/dev/zero of=~/more bs=1M count=64 status=none && echo "neighbour wrote $(du -sm ~ | cut -f1)M"',
    );
    try {
      await neighbour.waitFor(/^ready$/m);
      const filler = await ssh(ph.target, 'set -e; dd if=/dev/zero of=~/fill bs=1M count=400 status=none; echo not-reached', { timeoutMs: 60_000 });
      expect(filler.exitCode).toBe(1);
      expect(filler.stderr).toMatch(/No space left on device/);
      expect(filler.stdout).not.toContain('not-reached');
      neighbour.send('go on');
      // 128M of its own files, and du rounds the dotfiles up.
      await neighbour.waitFor(/^neighbour wrote 12[89]M$/m);
    } finally {
      await neighbour.end().catch(() => neighbour.kill());
    }
    const fresh = await sshOk(ph.target, "df -B1 --output=size,used ~ | awk 'END { print $1, $2 }'");
    const [size, used] = fresh.trim().split(' ').map(Number);
    expect(size).toBe(HOME_BYTES);
    expect(used).toBeLessThan(2 ** 20);
  });

  it('every tmpfs a job can write has a size and an inode limit: empty files run out at one per 4 KiB of it, in that tmpfs only', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const inodes = HOME_BYTES / 4096;
    const out = await sshOk(
      ph.target,
      `awk '$5 ~ "^(/home/${USER}|/tmp|/var/tmp|/dev/shm)$" { print $5, $NF }' /proc/self/mountinfo
cd /tmp && seq -f f%g 1 ${inodes + 1000} | xargs touch 2>/dev/null; echo "made $(ls -U /tmp | wc -l)"
touch ~/after /var/tmp/after /dev/shm/after && echo others-ok`,
      { timeoutMs: 120_000 },
    );
    // The last line for a path is the mount on top (ours over nspawn's own /tmp and /dev/shm).
    const top = new Map(
      out
        .split('\n')
        .filter((l) => l.startsWith('/'))
        .map((l) => l.split(' ') as [string, string]),
    );
    for (const dir of [`/home/${USER}`, '/tmp', '/var/tmp', '/dev/shm']) {
      expect({ dir, options: top.get(dir) }).toMatchObject({
        dir,
        options: expect.stringMatching(new RegExp(`(^|,)size=${HOME_BYTES / 1024}k,nr_inodes=${inodes}(,|$)`)),
      });
    }
    // The tmpfs's own root directory takes one.
    expect(out).toContain(`made ${inodes - 1}\n`);
    expect(out).toContain('others-ok\n');
    await waitNoContainers(ph);
  });

  it('a job running past the runtime limit (20s) is stopped', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const job = new HeldJob(ph.target, 'echo started; sleep 120; echo survived');
    const t0 = performance.now();
    try {
      await job.waitFor(/^started$/m);
      const unit = await oneConnectionUnit(ph);
      expect((await ph.host.execOk(`systemctl show -P RuntimeMaxUSec '${unit}'`)).trim()).toBe(`${RUNTIME_SECONDS}s`);
      const code = await job.wait(60_000);
      const seconds = since(t0);
      console.log(`[runtime-faults] the job was stopped after ${seconds} s (exit ${code})`);
      expect(code).toBe(255);
      expect(job.stdout).not.toContain('survived');
      expect(seconds).toBeGreaterThanOrEqual(RUNTIME_SECONDS - 1);
      expect(seconds).toBeLessThan(RUNTIME_SECONDS + 20);
      const journal = await ph.host.execOk(`journalctl --no-pager -q -o cat -u '${unit}'`);
      expect(journal).toMatch(/runtime time limit/i);
    } finally {
      job.kill();
    }
    await waitNoContainers(ph);
  });

  it('after a restart of the socket, and after a host reboot, new connections work', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const knownHosts = path.join(ph.work, 'known_hosts');
    fs.writeFileSync(knownHosts, await ph.host.execOk(`${CTL} known-hosts --print`));
    const strict = { ...ph.target, knownHosts };
    // A connection open across the restart keeps its container.
    const live = new HeldJob(strict, 'echo ready; read -r _; echo "still $(hostname)"');
    try {
      await live.waitFor(/^ready$/m);
      await ph.host.execOk(`systemctl restart ${SOCKET}`);
      expect((await ph.host.execOk(`systemctl is-active ${SOCKET}`)).trim()).toBe('active');
      expect(await sshOk(strict, 'echo after-restart')).toBe('after-restart\n');
      live.send('still?');
      await live.waitFor(/^still /m);
    } finally {
      await live.end().catch(() => live.kill());
    }
    await waitNoContainers(ph);

    const t0 = performance.now();
    await ph.reboot();
    timings.reboot = since(t0);
    expect((await ph.host.execOk(`systemctl is-active ${SOCKET}; systemctl is-enabled ${SOCKET}`)).split('\n').slice(0, 2)).toEqual(['active', 'enabled']);
    expect((await ph.host.execOk(`systemctl show -P Listen ${SOCKET}`)).trim()).toBe(`127.0.0.1:${ph.port} (Stream)`);
    // The same host keys after the reboot: strict checking with the known_hosts from before.
    expect(await sshOk(strict, 'echo after-reboot')).toBe('after-reboot\n');
    expect(await ph.host.execOk(`${CTL} status`)).toMatch(/^current: {4}1\.0\.0$/m);
  });
});
