// The host assertions that both install paths must pass (on the apt host, and again
// on the install.sh host): one container per connection, nothing persists, an upgrade
// under load, a rollback with gc refusing an image in use; and a connection flood, on Debian 12
// and 13; and a GitLab Runner style job, which every network mode must pass. Each drives real SSH connections from
// this machine and reads the host's own view (machinectl, systemctl, <name>ctl) to compare.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expect } from 'vitest';
import { CTL, NAME, RELEASE_FILE, USER } from './artifacts.ts';
import { connectionUnits, currentVersion, machines, SOCKET, socketCounter, waitNoContainers, type ProductHost } from './host.ts';
import { stageScript, STAGES, type JobSpec, type ServedRepo } from './runner-job.ts';
import { HeldJob, Multiplexed, ssh, sshOk, waitFor, type SshTarget } from './ssh.ts';

/** Terminal noise a login profile makes when it wants a tty; GitLab Runner's jobs would show it. */
const TTY_NOISE = /mesg|ttyname|not a tty|clear_console|inappropriate ioctl|no job control/i;

const log = (ph: ProductHost, line: string) => console.log(`[${ph.host.name}] ${line}`);

/** A connection that says which container and image it got, then waits for stdin lines. */
export function holdConnection(ph: ProductHost): HeldJob {
  return new HeldJob(
    ph.target,
    `echo "host=$(hostname) release=$(cat ${RELEASE_FILE})"; while read -r _; do echo "again release=$(cat ${RELEASE_FILE})"; done; echo bye`,
  );
}

/** The release a new connection gets. */
export async function releaseOfNewConnection(ph: ProductHost): Promise<string> {
  return (await sshOk(ph.target, `cat ${RELEASE_FILE}`)).trim();
}

/** 1. machinectl shows one machine per open connection, and their hostnames differ. */
export async function checkOneContainerPerConnection(ph: ProductHost, n = 3): Promise<void> {
  await waitNoContainers(ph);
  const jobs = Array.from({ length: n }, () => holdConnection(ph));
  try {
    const hostnames = await Promise.all(jobs.map(async (j) => (await j.waitFor(/host=(\S+)/))[1]!));
    const listed = await machines(ph);
    log(ph, `${n} connections: hostnames ${hostnames.join(', ')}; machinectl: ${listed.join(', ')}`);
    expect(new Set(hostnames).size).toBe(n);
    expect(listed).toHaveLength(n);
    // Each container's hostname is its machine name: the machine list is the connection list.
    expect(listed).toEqual([...hostnames].sort());
    expect(await connectionUnits(ph)).toHaveLength(n);
    const status = await ph.host.execOk(`${CTL} status`);
    expect(status).toMatch(new RegExp(`^containers: ${n}$`, 'm'));
    for (const h of hostnames) expect(status).toContain(h);
    // One more connection is one more machine, while the others stay.
    const extra = holdConnection(ph);
    try {
      const h = (await extra.waitFor(/host=(\S+)/))[1]!;
      expect(await machines(ph)).toEqual([...hostnames, h].sort());
    } finally {
      await extra.end();
    }
  } finally {
    for (const j of jobs) j.proc.stdin?.end();
    const codes = await Promise.all(jobs.map((j) => j.wait(30_000)));
    expect(codes).toEqual(jobs.map(() => 0));
  }
  await waitNoContainers(ph);
}

/** 4. Nothing a connection writes is seen by the next; / is read-only; the home is a sized tmpfs. */
export async function checkNothingPersists(ph: ProductHost, homeBytes: number): Promise<void> {
  const first = await sshOk(
    ph.target,
    `set -e; echo one > ~/left-behind; echo one > /tmp/left-behind; echo one > /var/tmp/left-behind
cat ~/left-behind /tmp/left-behind /var/tmp/left-behind; hostname`,
  );
  expect(first.split('\n').slice(0, 3)).toEqual(['one', 'one', 'one']);
  const firstHost = first.split('\n')[3];
  const second = await sshOk(
    ph.target,
    `hostname; for f in ~/left-behind /tmp/left-behind /var/tmp/left-behind; do [ -e "$f" ] && echo "FOUND $f"; done
echo home: $(ls -A ~); echo template: $(ls -A /home/${USER}.template)`,
  );
  expect(second).not.toContain('FOUND');
  expect(second.split('\n')[0]).not.toBe(firstHost);
  // The home is a fresh copy of the template, nothing more.
  const home = /^home: (.*)$/m.exec(second)?.[1];
  expect(home).toBe(/^template: (.*)$/m.exec(second)?.[1]);
  expect(home).toMatch(/\.profile/);

  const ro = await sshOk(ph.target, `touch /usr/x 2>&1; touch /etc/x 2>&1; touch /x 2>&1; awk '$5 == "/" { print $6 }' /proc/self/mountinfo`);
  expect(ro).toMatch(/touch: cannot touch '\/usr\/x': Read-only file system/);
  expect(ro).toMatch(/touch: cannot touch '\/etc\/x': Read-only file system/);
  expect(ro).toMatch(/touch: cannot touch '\/x': Read-only file system/);
  expect(ro.trim().split('\n').at(-1)).toMatch(/^ro,/);

  // Writable up to its size, then ENOSPC; the job itself goes on (the shell is still there).
  const fill = await sshOk(
    ph.target,
    `df -B1 --output=size,target ~ | awk 'END { print $1, $2 }'
echo ok > ~/small && cat ~/small
dd if=/dev/zero of=~/fill bs=1M count=${Math.ceil(homeBytes / 2 ** 20) + 64} 2>&1 | grep -o 'No space left on device' | head -n 1
echo "written=$(stat -c %s ~/fill)"
rm ~/fill && echo after > ~/after && cat ~/after`,
    { timeoutMs: 120_000 },
  );
  const lines = fill.trim().split('\n');
  expect(lines[0]).toBe(`${homeBytes} /home/${USER}`);
  expect(lines[1]).toBe('ok');
  expect(lines[2]).toBe('No space left on device');
  expect(Number(/written=(\d+)/.exec(fill)?.[1])).toBeLessThanOrEqual(homeBytes);
  expect(lines.at(-1)).toBe('after');
}

/** The job of the upgrade and rollback checks: busy on its image until its stdin closes. */
const BUSY_JOB = `cat ${RELEASE_FILE}
sum() { sha256sum /usr/bin/git /usr/bin/bash /usr/lib/ephemeral-builder/container-init ${RELEASE_FILE} | sha256sum; }
before=$(sum); echo started
n=0
while :; do
  read -r -t 0.2 _; rc=$?
  [ "$rc" -gt 128 ] || break
  git --version >/dev/null; n=$((n + 1)); [ "$n" -lt 3000 ] || break
done
[ "$(sum)" = "$before" ] && echo files-unchanged
git --version
echo "rounds=$n"
cat ${RELEASE_FILE}
echo finished`;

/**
 * 7. With a connection open and a job running on `from`, `upgrade()` completes; the job finishes
 * unharmed on its own image, and new connections get `to`.
 */
export async function checkUpgradeUnderLoad(ph: ProductHost, o: { from: string; to: string; upgrade: () => Promise<unknown> }): Promise<void> {
  await waitNoContainers(ph);
  expect(await releaseOfNewConnection(ph)).toBe(o.from);
  const job = new HeldJob(ph.target, BUSY_JOB);
  try {
    await job.waitFor(/^started$/m);
    const machine = (await machines(ph))[0];
    const t0 = performance.now();
    await o.upgrade();
    log(ph, `upgrade ${o.from} -> ${o.to} took ${Math.round((performance.now() - t0) / 100) / 10} s with a job running`);
    // Still running, on its own image, after the upgrade finished.
    expect(job.exitCode).toBeUndefined();
    expect(await machines(ph)).toEqual([machine]);
    expect(await currentVersion(ph)).toBe(o.to);
    const status = await ph.host.execOk(`${CTL} status`);
    expect(status).toMatch(new RegExp(`^current:\\s+${o.to.replaceAll('.', '\\.')}$`, 'm'));
    expect(status).toMatch(new RegExp(`${machine}\\s+image ${o.from.replaceAll('.', '\\.')}\\s`));
    expect(await releaseOfNewConnection(ph)).toBe(o.to);
    const code = await job.end(60_000);
    expect({ code, stderr: job.stderr }).toEqual({ code: 0, stderr: '' });
    const out = job.stdout.trim().split('\n');
    expect(out[0]).toBe(o.from);
    expect(out).toContain('files-unchanged');
    expect(Number(/rounds=(\d+)/.exec(job.stdout)?.[1])).toBeGreaterThan(0);
    expect(out.slice(-2)).toEqual([o.from, 'finished']);
  } finally {
    job.kill();
  }
  await waitNoContainers(ph);
}

/**
 * 8. `<name>ctl use FROM` makes new connections get FROM at once while a live container keeps
 * its image; `downgrade()` (apt-get install --allow-downgrades, or install.sh with the old
 * release) gives the same; gc refuses the image the live container uses, and removes it once
 * the container is gone.
 */
export async function checkRollback(
  ph: ProductHost,
  o: {
    current: string;
    back: string;
    downgrade: () => Promise<unknown>;
    refuseRemoval?: () => Promise<void>;
    afterGc?: () => Promise<void>;
    /** What `<name>ctl list` says installed the images. */
    installedBy: 'dpkg' | 'install.sh';
  },
): Promise<void> {
  await waitNoContainers(ph);
  const live = holdConnection(ph);
  try {
    const liveMachine = (await live.waitFor(/host=(\S+) release=(\S+)/))[1]!;
    expect(live.stdout).toContain(`release=${o.current}`);

    const t0 = performance.now();
    expect(await ph.host.execOk(`${CTL} use ${o.back}`)).toMatch(new RegExp(`new connections get image ${o.back.replaceAll('.', '\\.')}`));
    log(ph, `${CTL} use ${o.back}: ${Math.round(performance.now() - t0)} ms (through nsenter)`);
    expect(await releaseOfNewConnection(ph)).toBe(o.back);
    live.send('again');
    await live.waitFor(new RegExp(`again release=${o.current.replaceAll('.', '\\.')}`));

    // Back to where we were with `rollback` (previous), then the package manager's way.
    expect(await ph.host.execOk(`${CTL} rollback`)).toMatch(new RegExp(`new connections get image ${o.current.replaceAll('.', '\\.')}`));
    expect(await releaseOfNewConnection(ph)).toBe(o.current);
    await o.downgrade();
    expect(await currentVersion(ph)).toBe(o.back);
    expect(await releaseOfNewConnection(ph)).toBe(o.back);

    // gc: the current image and the one the live container runs on both stay.
    const gc = await ph.host.execOk(`${CTL} gc --keep 0`, { timeoutMs: 120_000 });
    log(ph, `gc while ${liveMachine} runs on ${o.current}:\n${gc.trim()}`);
    expect(gc).toMatch(new RegExp(`keeping ${o.current.replaceAll('.', '\\.')}: in use by ${liveMachine}`));
    expect(gc).toMatch(new RegExp(`keeping ${o.back.replaceAll('.', '\\.')}: current`));
    expect(await ph.host.exec(`test -x /usr/lib/${NAME}/images/${o.current}/usr/lib/ephemeral-builder/container-init`)).toMatchObject({ exitCode: 0 });
    await o.refuseRemoval?.();
    const list = await ph.host.execOk(`${CTL} list`);
    const by = o.installedBy === 'dpkg' ? `dpkg \\(${NAME}-image-${o.current.replaceAll('.', '\\.')}\\)` : 'install\\.sh';
    expect(list).toMatch(new RegExp(`^${o.current.replaceAll('.', '\\.')}\\s+(previous, )?in use \\(1\\)\\s+${by}$`, 'm'));
    live.send('again');
    await live.waitFor(new RegExp(`again release=${o.current.replaceAll('.', '\\.')}[\\s\\S]*again release=${o.current.replaceAll('.', '\\.')}`));
  } finally {
    live.proc.stdin?.end();
    expect(await live.wait(30_000)).toBe(0);
  }
  await waitNoContainers(ph);
  const gc = await ph.host.execOk(`${CTL} gc --keep 0`, { timeoutMs: 180_000 });
  log(ph, `gc once no container runs:\n${gc.trim()}`);
  expect(await ph.host.exec(`test -e /usr/lib/${NAME}/images/${o.current}`)).toMatchObject({ exitCode: 1 });
  const versions = (await ph.host.execOk(`ls /usr/lib/${NAME}/images`)).trim().split('\n');
  expect(versions).toEqual([o.back]);
  await o.afterGc?.();
  expect(await releaseOfNewConnection(ph)).toBe(o.back);
}

/** Waits until a connection unit for a connection exists, returning its name. */
export async function unitOf(ph: ProductHost, machine: string): Promise<string> {
  return waitFor(`the unit of ${machine}`, async () => {
    for (const u of await connectionUnits(ph)) {
      const pid = (await ph.host.execOk(`systemctl show -P MainPID '${u}'`)).trim();
      const cmd = (await ph.host.exec(`tr '\\0' ' ' < /proc/${pid}/cmdline`)).stdout;
      if (cmd.includes(`--machine=${machine} `)) return u;
    }
    return undefined;
  });
}

/**
 * A job floods the host's port: 500 connections in 2 s, each closed as soon as it is made. The
 * socket must come out of it serving (systemd's trigger limit would have failed it for good): a
 * normal job must succeed within 10 s of the flood's end. (One connecting at once may still find
 * every slot taken by the containers started for the flood's last connections, and be refused,
 * as a connection beyond the limit is: the runner's next try gets in.)
 */
export async function checkConnectionFlood(ph: ProductHost): Promise<void> {
  await waitNoContainers(ph);
  const [n, spreadMs] = [500, 2000];
  const t0 = performance.now();
  let reached = 0;
  await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve) => {
          setTimeout(
            () => {
              const s = net.connect({ host: '127.0.0.1', port: ph.port });
              s.once('connect', () => {
                reached++;
                s.destroy();
                resolve();
              });
              s.once('error', () => resolve());
            },
            (i * spreadMs) / n,
          );
        }),
    ),
  );
  const floodSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const elapsed = () => (performance.now() - t1) / 1000;
  let job = await ssh(ph.target, 'echo job-ok', { timeoutMs: 10_000 });
  let tries = 1;
  while (job.exitCode !== 0 && elapsed() < 9.5) {
    await new Promise((r) => setTimeout(r, 500));
    job = await ssh(ph.target, 'echo job-ok', { timeoutMs: Math.max(1000, Math.round(10_000 - elapsed() * 1000)) });
    tries++;
  }
  const jobSeconds = elapsed();
  const state = await Promise.all(['ActiveState', 'Result'].map(async (p) => (await ph.host.execOk(`systemctl show -P ${p} ${SOCKET}`)).trim()));
  log(
    ph,
    `flood: ${n} connections in ${floodSeconds.toFixed(1)} s (${reached} reached the socket); socket ${state.join(', ')}; a normal job after it: exit ${job.exitCode} after ${jobSeconds.toFixed(1)} s (try ${tries})`,
  );
  expect(floodSeconds).toBeLessThan(3);
  expect(state).toEqual(['active', 'success']);
  expect({ code: job.exitCode, out: job.stdout, err: job.stderr }).toEqual({ code: 0, out: 'job-ok\n', err: '' });
  expect(jobSeconds).toBeLessThan(10);
  const journal = await ph.host.execOk(`journalctl -q -o cat -u ${SOCKET}`);
  expect(journal).not.toMatch(/Trigger limit hit/);
  await waitNoContainers(ph, 60_000);
}

/**
 * 3. A job as GitLab Runner runs it, with the settings `runner-config` prints (`host` is the
 * address the runner connects to): one connection, a `bash -l` session per stage with its script
 * on stdin and no pty, the project fetched from `git` over HTTP, a failing step, after_script in
 * the same container, and no terminal noise.
 */
export async function checkRunnerJob(h: ProductHost, git: ServedRepo, host: string): Promise<void> {
  await waitNoContainers(h);
  const accepted = () => socketCounter(h)('NAccepted');
  // The runner's settings come from runner-config, as an admin would paste them.
  const rc = await h.host.execOk(`${CTL} runner-config`);
  const setting = (key: string) => new RegExp(`^\\s*${key} = "?([^"\\n]*)"?$`, 'm').exec(rc)?.[1];
  expect(setting('executor')).toBe('ssh');
  expect(setting('host')).toBe(host);
  expect(setting('port')).toBe(String(h.port));
  expect(setting('user')).toBe(USER);
  expect(setting('identity_file')).toBe(`/etc/${NAME}/runner/id_ed25519`);
  expect(setting('known_hosts_file')).toBe(`/etc/${NAME}/runner/known_hosts`);
  expect(setting('limit')).toBe('4');
  const buildsDir = setting('builds_dir')!;
  expect(buildsDir).toBe(`/home/${USER}/builds`);
  // The runner's known_hosts is the file the host tool wrote; strict checking against it.
  const knownHosts = path.join(h.work, 'runner-known_hosts');
  fs.copyFileSync(h.host.path(`/etc/${NAME}/runner/known_hosts`), knownHosts);
  const target: SshTarget = { ...h.target, host, knownHosts };

  const job: JobSpec = {
    buildsDir,
    repoUrl: git.url,
    sha: git.sha,
    script: ['sh ./build.sh', 'cat out/result.txt', 'exit 42', 'echo never-printed'],
    afterScript: ['cat out/result.txt', 'echo "job status: $CI_JOB_STATUS"'],
  };
  const projectDir = `${buildsDir}/t3st-tok/0/group/project`;
  const before = await accepted();
  const m = await Multiplexed.open(target);
  const results: Record<string, { exitCode: number; stdout: string; stderr: string }> = {};
  try {
    for (const stage of STAGES) {
      const r = await m.run('bash -l', { input: stageScript(job, stage, stage === 'after_script' ? 'failed' : 'running'), timeoutMs: 120_000 });
      results[stage] = r;
      // The runner goes on to after_script whatever step_script returned.
    }
    expect(await machines(h)).toHaveLength(1);
  } finally {
    await m.close();
  }
  const container = /^Running on (\S+) via/m.exec(results.prepare_script!.stdout)?.[1];
  expect(results.prepare_script).toMatchObject({ exitCode: 0 });
  expect(container).toMatch(new RegExp(`^${NAME}-`));
  expect(results.get_sources!.exitCode, results.get_sources!.stderr).toBe(0);
  expect(results.get_sources!.stdout).toContain(`checked out ${git.sha}`);
  const result = `${createHash('sha256').update(git.content).digest('hex')}  src.txt`;
  expect(results.step_script!.exitCode).toBe(42);
  expect(results.step_script!.stdout).toContain(`build.sh ran in ${projectDir}`);
  expect(results.step_script!.stdout).toContain(result);
  expect(results.step_script!.stdout).not.toContain('never-printed');
  // after_script runs in the same container and sees what the failed step wrote.
  expect(results.after_script).toMatchObject({ exitCode: 0 });
  expect(results.after_script!.stdout).toContain(result);
  expect(results.after_script!.stdout).toContain('job status: failed');
  expect(results.cleanup_file_variables).toMatchObject({ exitCode: 0 });
  expect(results.cleanup_file_variables!.stdout).toContain(`cleaned up ${projectDir}.tmp`);
  for (const stage of STAGES) expect(results[stage]!.stderr, `${stage} stderr`).not.toMatch(TTY_NOISE);
  // Five sessions, one connection, one container.
  expect(await accepted()).toBe(before + 1);
  await waitNoContainers(h);
}
