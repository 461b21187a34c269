// Self-test of the booted-host harness, for real: a Debian 13 host boots with systemd as PID 1,
// nested systemd-nspawn works inside it, a socket unit inside answers on this machine's loopback,
// apt inside installs from a repository we publish and serve on loopback (the admin's way, keyring
// and .sources, no trusted=yes), and poweroff leaves no process, mount or tree behind, even when
// the test process dies. A Debian 12 host boots too (the install.sh path runs there).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountsBelow } from '../../pipeline/util/mounts.ts';
import { publish } from '../../pipeline/publish/publish.ts';
import { describeWith } from '../helpers/env.ts';
import { serveDirectory, type StaticServer } from '../helpers/http-server.ts';
import {
  addAptSource, APT_ENV, bootHost, buildFixtureDeb, freeLoopbackPort, machineName, makeHostTree, makeSigningKey,
  makeTinyTree, tcpRoundTrip, type BootedHost, type SigningKey,
} from './harness/index.ts';

const timings: Record<string, number> = {};
const note = (what: string, seconds: number) => {
  timings[what] = seconds;
};

/** No such process, or only a zombie left for its parent to reap. */
const isGone = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
  } catch {
    return true;
  }
};
const waitFor = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  return cond();
};

const NEEDS = { root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'nsenter', 'setpriv', 'pgrep', 'zstd', 'tar', 'dpkg-deb', 'gpg', 'gpgv'] };

describeWith(NEEDS, 'e2e harness: a booted Debian 13 host', () => {
  let host: BootedHost | undefined;
  let poweredOff = false;

  beforeAll(async () => {
    const tree = await makeHostTree('trixie', { log: (l) => console.log(`[harness] ${l}`) });
    note(tree.tarball.cached ? 'makeHostTree trixie (cached tarball)' : 'makeHostTree trixie (cold: mmdebstrap)', tree.tarball.seconds);
    note('unpack trixie tree', tree.unpackSeconds);
    host = await bootHost(tree, machineName('harness-trixie'));
    note('boot trixie to running', host.bootSeconds);
  });

  afterAll(async () => {
    if (host && !poweredOff) await host.poweroff();
    console.log(`[harness] timings (s): ${JSON.stringify(timings)}`);
  });

  it('boots with systemd as PID 1 inside, to running or degraded', async () => {
    expect(['running', 'degraded']).toContain(host!.bootState);
    expect(fs.readFileSync(`/proc/${host!.initPid}/comm`, 'utf8').trim()).toBe('systemd');
    expect((await host!.execOk('cat /proc/1/comm')).trim()).toBe('systemd');
    expect((await host!.execOk('hostname')).trim()).toBe(host!.name);
    expect((await host!.execOk('. /etc/os-release; echo $VERSION_CODENAME')).trim()).toBe('trixie');
    if (host!.bootState === 'degraded') console.log(`[harness] degraded: ${(await host!.exec('systemctl --failed --no-legend')).stdout}`);
  });

  it('runs commands with exit codes, stdin and a clean environment', async () => {
    expect(await host!.exec('exit 42')).toMatchObject({ exitCode: 42 });
    expect((await host!.exec('cat; echo "$VITEST"', { input: 'from stdin\n' })).stdout).toBe('from stdin\n\n');
    expect((await host!.exec('echo $FOO', { env: { FOO: 'bar' } })).stdout).toBe('bar\n');
    // The host's capability bounding set, not this machine's (which has CAP_NET_ADMIN).
    const bnd = (status: string) => /^CapBnd:\s*(\S+)$/m.exec(status)?.[1];
    expect(bnd(await host!.execOk('cat /proc/self/status'))).toBe(bnd(await host!.execOk('cat /proc/1/status')));
    expect(bnd(await host!.execOk('cat /proc/self/status'))).not.toBe(bnd(fs.readFileSync('/proc/self/status', 'utf8')));
    host!.writeFile('/root/written-from-outside', 'hello\n');
    expect(await host!.execOk('cat /root/written-from-outside')).toBe('hello\n');
  });

  it('sees the cgroup setup of this machine (recorded: v1 hybrid here, so limits are not enforced inside)', async () => {
    const outside = (await execa('stat', ['-fc', '%T', '/sys/fs/cgroup'])).stdout.trim();
    const inside = (await host!.execOk('stat -fc %T /sys/fs/cgroup')).trim();
    const mounts = await host!.execOk('grep " /sys/fs/cgroup" /proc/self/mountinfo | awk \'{print $5, $6, $9}\'');
    console.log(`[harness] cgroup: this machine ${outside}, host ${inside}\n${mounts}`);
    if (outside === 'tmpfs') {
      // cgroup v1 hybrid: the v2 tree sits at /sys/fs/cgroup/unified, and nspawn mounts the v1
      // resource controllers read-only, so the host's services cannot get memory/pids/cpu limits.
      expect(inside).toBe('tmpfs');
      expect(mounts).toMatch(/^\/sys\/fs\/cgroup\/unified rw/m);
      expect(mounts).toMatch(/^\/sys\/fs\/cgroup\/memory ro/m);
      expect(mounts).toMatch(/^\/sys\/fs\/cgroup\/pids ro/m);
    } else {
      expect(inside).toBe('cgroup2fs');
    }
  });

  it('runs nested systemd-nspawn, with private users too', async () => {
    const tiny = await makeTinyTree(host!);
    const plain = await host!.exec(`systemd-nspawn --console=pipe -q -D ${tiny} /bin/true`);
    expect(plain.exitCode, plain.stderr).toBe(0);
    const mapped = await host!.exec(`systemd-nspawn --console=pipe -q -D ${tiny} --private-users=pick --private-users-ownership=map /bin/cat /proc/self/uid_map`);
    expect(mapped.exitCode, mapped.stderr).toBe(0);
    const [inside, outside, count] = mapped.stdout.trim().split(/\s+/).map(Number);
    expect(inside).toBe(0);
    expect(outside).toBeGreaterThan(65535); // container root is not host root
    expect(count).toBe(65536);
  });

  it('lists a running nested container with machinectl', async () => {
    const tiny = await makeTinyTree(host!);
    await host!.execOk(`systemd-run --unit=nested-sleeper --collect systemd-nspawn --console=pipe -q -D ${tiny} -M nested-one /bin/sleep 300`);
    try {
      let list = '';
      for (let i = 0; i < 50 && !list.includes('nested-one'); i++) {
        list = (await host!.exec('machinectl list --no-legend')).stdout;
        if (!list.includes('nested-one')) await new Promise((r) => setTimeout(r, 200));
      }
      expect(list).toMatch(/^nested-one\s+container\s+systemd-nspawn/m);
    } finally {
      await host!.exec('systemctl stop nested-sleeper');
    }
    expect((await host!.exec('machinectl list --no-legend')).stdout).not.toContain('nested-one');
  });

  it('serves a socket-activated unit (Accept=yes) of the host on this machine\'s loopback', async () => {
    const port = await freeLoopbackPort();
    host!.writeFile('/etc/systemd/system/harness-echo.socket', `[Socket]\nListenStream=127.0.0.1:${port}\nAccept=yes\n\n[Install]\nWantedBy=sockets.target\n`);
    host!.writeFile('/etc/systemd/system/harness-echo@.service', '[Service]\nExecStart=/bin/sh -c \'echo "from $(hostname)"; exec cat\'\nStandardInput=socket\n');
    await host!.execOk('systemctl daemon-reload && systemctl start harness-echo.socket');
    expect(await tcpRoundTrip(port, 'ping\n')).toBe(`from ${host!.name}\nping\n`);
    // One service instance per connection, as the product's socket will do.
    expect(await tcpRoundTrip(port, 'again\n')).toBe(`from ${host!.name}\nagain\n`);
    expect(Number((await host!.execOk('systemctl show -P NAccepted harness-echo.socket')).trim())).toBe(2);
    await host!.execOk('systemctl stop harness-echo.socket');
  });

  describe('apt inside the host, from a repository served on this machine\'s loopback', () => {
    let key: SigningKey;
    let server: StaticServer;
    let work: string;

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-harness-repo-'));
      key = await makeSigningKey();
      const debs = path.join(work, 'debs');
      const repo = path.join(work, 'repo');
      const fixture = (version: string) => buildFixtureDeb(debs, {
        name: 'eb-fixture', version, depends: 'systemd-container, openssh-client',
        files: { 'etc/eb-fixture-release': `${version}\n` },
      });
      await publish({ repoDir: repo, gnupgHome: key.gnupgHome, debs: [await fixture('1.0.0')] });
      await publish({ repoDir: repo, gnupgHome: key.gnupgHome, debs: [await fixture('1.1.0')] });
      server = await serveDirectory(repo);
      addAptSource(host!, { repoDir: repo, name: 'eb-fixture', uri: server.url });
    });

    afterAll(async () => {
      await server?.close();
      await key?.dispose();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it('apt-get update accepts it with the binary keyring in Signed-By (apt 3 / sqv)', async () => {
      const t0 = performance.now();
      const up = await host!.exec('apt-get update', { env: APT_ENV });
      note('apt-get update inside (Debian mirror + ours)', Math.round((performance.now() - t0) / 100) / 10);
      expect(up.exitCode, up.stdout + up.stderr).toBe(0);
      expect(up.stdout + up.stderr).not.toMatch(/^(W|E|Err):/m);
      expect(server.requests.map((r) => r.path)).toContain('/dists/stable/InRelease');
      const policy = await host!.execOk('apt-cache policy eb-fixture');
      expect(policy).toMatch(/Candidate: 1\.1\.0/);
      expect(policy).toMatch(/^\s+1\.0\.0 500$/m);
      // apt 3 verifies with sqv here (no gpgv installed), which refuses keybox files (checked by hand).
      expect((await host!.execOk('apt-get --version')).split('\n')[0]).toMatch(/^apt 3\./);
      expect((await host!.exec('test -x /usr/bin/sqv && ! command -v gpgv')).exitCode).toBe(0);
    });

    it('apt-get install gets the newest, and a downgrade rolls back', async () => {
      const t0 = performance.now();
      await host!.execOk('apt-get install -y eb-fixture', { env: APT_ENV });
      note('apt-get install inside', Math.round((performance.now() - t0) / 100) / 10);
      expect(await host!.execOk('dpkg-query -W -f \'${Version}\' eb-fixture')).toBe('1.1.0');
      expect(await host!.execOk('cat /etc/eb-fixture-release')).toBe('1.1.0\n');
      await host!.execOk('apt-get install -y --allow-downgrades eb-fixture=1.0.0', { env: APT_ENV });
      expect(await host!.execOk('cat /etc/eb-fixture-release')).toBe('1.0.0\n');
    });
  });

  it('powers off: no nspawn or host process left, nothing mounted below the tree, the tree removed', async () => {
    const h = host!;
    const report = await h.poweroff();
    poweredOff = true;
    note('poweroff trixie', report.seconds);
    note('remove trixie tree', report.removeSeconds);
    expect(report.forced).toBe(false);
    expect(isGone(h.nspawnPid)).toBe(true);
    expect(isGone(h.initPid)).toBe(true);
    expect(mountsBelow(h.tree.workDir)).toEqual([]);
    expect(fs.existsSync(h.tree.workDir)).toBe(false);
    expect(fs.existsSync(`/run/systemd/nspawn/propagate/${h.name}`)).toBe(false);
  });
});

describeWith(NEEDS, 'e2e harness: a booted Debian 12 host', () => {
  it('boots, runs nested nspawn and powers off', async () => {
    const tree = await makeHostTree('bookworm', { log: (l) => console.log(`[harness] ${l}`) });
    const host = await bootHost(tree, machineName('harness-bookworm'));
    try {
      console.log(`[harness] bookworm: tarball ${tree.tarball.cached ? 'cached' : 'cold'} ${tree.tarball.seconds}s, unpack ${tree.unpackSeconds}s, boot ${host.bootSeconds}s (${host.bootState})`);
      expect(['running', 'degraded']).toContain(host.bootState);
      expect((await host.execOk('. /etc/os-release; echo $VERSION_CODENAME')).trim()).toBe('bookworm');
      expect((await host.execOk('systemctl --version')).split('\n')[0]).toMatch(/^systemd 252 /);
      const tiny = await makeTinyTree(host);
      expect((await host.exec(`systemd-nspawn --console=pipe -q -D ${tiny} /bin/true`)).exitCode).toBe(0);
    } finally {
      const report = await host.poweroff();
      console.log(`[harness] bookworm poweroff ${report.seconds}s, tree removed in ${report.removeSeconds}s`);
      expect(report.forced).toBe(false);
    }
    expect(isGone(host.nspawnPid)).toBe(true);
    expect(fs.existsSync(tree.workDir)).toBe(false);
  });
});

describeWith(NEEDS, 'e2e harness: a test process that dies leaves no host running', () => {
  const child = path.join(import.meta.dirname, 'harness/crash-child.ts');

  for (const mode of ['exit', 'hang'] as const) {
    it(mode === 'exit' ? 'process.exit() without poweroff: the host is stopped' : 'SIGKILL of the test process: the parent-death signal halts the host', async () => {
      const proc = execa(process.execPath, [child, mode, 'trixie'], { reject: false, buffer: { stdout: true, stderr: true } });
      let line = '';
      proc.stdout?.on('data', (c: Buffer) => { line += c.toString(); });
      const started = await waitFor(() => line.includes('\n'), 5 * 60_000);
      expect(started, `crash-child printed nothing: ${line}`).toBe(true);
      const { name, nspawnPid, initPid, workDir } = JSON.parse(line.split('\n')[0]!) as { name: string; nspawnPid: number; initPid: number; workDir: string };
      try {
        if (mode === 'hang') proc.kill('SIGKILL');
        await proc;
        expect(await waitFor(() => isGone(nspawnPid) && isGone(initPid), 60_000)).toBe(true);
        // nspawn exited by itself, so it cleaned up after itself on this machine.
        expect(fs.existsSync(`/run/systemd/nspawn/propagate/${name}`)).toBe(false);
      } finally {
        // Only if the assertions above failed: stop what is left, by pid.
        for (const pid of [initPid, nspawnPid]) if (!isGone(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        await waitFor(() => isGone(nspawnPid), 10_000);
        // The crashed process could not remove its tree; a test's afterAll would not have run either.
        if (mountsBelow(workDir).length === 0) fs.rmSync(workDir, { recursive: true, force: true });
      }
    });
  }
});
