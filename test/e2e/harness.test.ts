// Self-test of the booted-host harness, for real: a Debian 13 host boots with systemd as PID 1,
// nested systemd-nspawn works inside it, a socket unit inside answers on this machine's loopback,
// apt inside installs from a repository we publish and serve on loopback (the admin's way, keyring
// and .sources, no trusted=yes), and poweroff leaves no process, mount or tree behind, even when
// the test process dies. A Debian 12 host boots too (the install.sh path runs there).
// The same Debian 13 host, apt 3 with sqv as an admin's host has them, then checks the release
// path's trust: apt refuses a repository past its Valid-Until and accepts it after
// `publish --resign`; every release `publish --keep` kept installs and a pruned one is gone; the
// host upgrades through a signing key rotation with no step of its own; install.sh verifies a
// release's signature with sqv (no gpgv here) and refuses a tampered SHA256SUMS.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountsBelow } from '../../pipeline/util/mounts.ts';
import { publish } from '../../pipeline/publish/publish.ts';
import { describeWith } from '../helpers/env.ts';
import { serveDirectory, type StaticServer } from '../helpers/http-server.ts';
import { makeRelease, testRecipe } from '../integration/host-fixture.ts';
import { runCli } from '../helpers/cli.ts';
import {
  addAptSource,
  APT_ENV,
  bootHost,
  buildFixtureDeb,
  buildFixtureRelease,
  disposeTrackedKeys,
  freeLoopbackPort,
  machineName,
  makeHostTree,
  makeSigningKey,
  keyringFingerprints,
  makeTinyTree,
  tcpRoundTrip,
  testReleaseKey,
  type BootedHost,
  type SigningKey,
} from './harness/index.ts';

const timings: Record<string, number> = {};
const note = (what: string, seconds: number) => {
  timings[what] = seconds;
};

/** No such process, or only a zombie left for its parent to reap. */
const isGone = (pid: number) => {
  try {
    return fs
      .readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .startsWith('Z');
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
    await disposeTrackedKeys();
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
    const mapped = await host!.exec(
      `systemd-nspawn --console=pipe -q -D ${tiny} --private-users=pick --private-users-ownership=map /bin/cat /proc/self/uid_map`,
    );
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

  it("serves a socket-activated unit (Accept=yes) of the host on this machine's loopback", async () => {
    const port = await freeLoopbackPort();
    host!.writeFile('/etc/systemd/system/harness-echo.socket', `[Socket]\nListenStream=127.0.0.1:${port}\nAccept=yes\n\n[Install]\nWantedBy=sockets.target\n`);
    host!.writeFile(
      '/etc/systemd/system/harness-echo@.service',
      '[Service]\nExecStart=/bin/sh -c \'echo "from $(hostname)"; exec cat\'\nStandardInput=socket\n',
    );
    await host!.execOk('systemctl daemon-reload && systemctl start harness-echo.socket');
    expect(await tcpRoundTrip(port, 'ping\n')).toBe(`from ${host!.name}\nping\n`);
    // One service instance per connection, as the product's socket will do.
    expect(await tcpRoundTrip(port, 'again\n')).toBe(`from ${host!.name}\nagain\n`);
    expect(Number((await host!.execOk('systemctl show -P NAccepted harness-echo.socket')).trim())).toBe(2);
    await host!.execOk('systemctl stop harness-echo.socket');
  });

  describe("apt inside the host, from a repository served on this machine's loopback", () => {
    let key: SigningKey;
    let server: StaticServer;
    let work: string;

    beforeAll(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-harness-repo-'));
      key = await makeSigningKey();
      const debs = path.join(work, 'debs');
      const repo = path.join(work, 'repo');
      const fixture = (version: string) =>
        buildFixtureDeb(debs, {
          name: 'eb-fixture',
          version,
          depends: 'systemd-container, openssh-client',
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
      expect(await host!.execOk("dpkg-query -W -f '${Version}' eb-fixture")).toBe('1.1.0');
      expect(await host!.execOk('cat /etc/eb-fixture-release')).toBe('1.1.0\n');
      await host!.execOk('apt-get install -y --allow-downgrades eb-fixture=1.0.0', { env: APT_ENV });
      expect(await host!.execOk('cat /etc/eb-fixture-release')).toBe('1.0.0\n');
    });
  });

  describe("the release path's trust, on apt 3 and sqv", () => {
    const NAME = 'eb-demo';
    let work: string;
    let repo: string;
    let server: StaticServer;
    let k1: SigningKey;
    let k2: SigningKey;
    let t0 = 0;
    /** apt-get update of this repository alone (the Debian lists are left as they are). */
    const update = () =>
      host!.exec(`apt-get update -o APT::Get::List-Cleanup=0 -o Dir::Etc::SourceList=/etc/apt/sources.list.d/${NAME}.sources -o Dir::Etc::SourceParts=-`, {
        env: APT_ENV,
      });
    const publishCli = (key: SigningKey, args: string[]) => runCli(['publish', '--repo', repo, '--gnupg-home', key.gnupgHome, ...args]);
    const hostKeyring = async () => keyringFingerprints(host!.path(`/etc/apt/keyrings/${NAME}-archive-keyring.gpg`));
    const installed = async (pkg: string) => (await host!.exec(`dpkg-query -W -f '\${Version}' ${pkg}`)).stdout;

    beforeAll(async () => {
      t0 = performance.now();
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-harness-trust-'));
      repo = path.join(work, 'repo');
      [k1, k2] = await Promise.all([makeSigningKey('eb-demo key 1 <k1@example.invalid>'), makeSigningKey('eb-demo key 2 <k2@example.invalid>')]);
      // Published with a faked clock: ten days ago, valid for three, so expired a week ago.
      const tenDaysAgo = Math.floor(Date.now() / 1000) - 10 * 86400;
      for (const v of ['1.0.0', '1.1.0', '1.2.0']) {
        await publish({
          repoDir: repo,
          gnupgHome: k1.gnupgHome,
          debs: await buildFixtureRelease(path.join(work, 'debs'), NAME, v),
          date: tenDaysAgo,
          validFor: 3 * 86400,
        });
      }
      server = await serveDirectory(repo);
      addAptSource(host!, { repoDir: repo, name: NAME, uri: server.url });
    });

    afterAll(async () => {
      await server?.close();
      await Promise.all([k1?.dispose(), k2?.dispose()]);
      if (work) fs.rmSync(work, { recursive: true, force: true });
      note('release trust tests', Math.round((performance.now() - t0) / 100) / 10);
    });

    it('apt refuses the repository past its Valid-Until, and accepts it after `publish --resign`', async () => {
      const expired = await update();
      expect(expired.exitCode).not.toBe(0);
      expect(expired.stdout + expired.stderr).toMatch(/Release file for http:\/\/127\.0\.0\.1:\d+\/dists\/stable\/InRelease is expired \(invalid since /);
      expect((await host!.exec(`apt-cache policy ${NAME}`)).stdout).not.toMatch(/Candidate: 1\./);
      const resigned = await publishCli(k1, ['--resign']);
      expect(resigned.exitCode, resigned.stderr).toBe(0);
      expect(resigned.stdout).toMatch(/^signed dists\/stable\/InRelease with [0-9A-F]{40}: Date .*, Valid-Until .*$/m);
      const fresh = await update();
      expect(fresh.exitCode, fresh.stdout + fresh.stderr).toBe(0);
      expect(fresh.stdout + fresh.stderr).not.toMatch(/^(W|E|Err):/m);
      expect(await host!.execOk(`apt-cache policy ${NAME}`)).toMatch(/Candidate: 1\.2\.0/);
    });

    it('installs every release `publish --keep 2` kept with apt; the pruned one is gone from the index and the pool', async () => {
      const pruned = await publishCli(k1, ['--keep', '2']);
      expect(pruned.exitCode, pruned.stderr).toBe(0);
      expect(pruned.stdout).toMatch(/^pruned eb-demo 1\.0\.0: pool\/main\/e\/eb-demo\/eb-demo_1\.0\.0_all\.deb, pool\/main\/e\/eb-demo-image-1\.0\.0\//m);
      expect((await update()).exitCode).toBe(0);
      // The first-time setup's install: the keyring package with the newest release.
      await host!.execOk(`apt-get install -y ${NAME}-archive-keyring ${NAME}`, { env: APT_ENV });
      for (const v of ['1.2.0', '1.1.0']) {
        await host!.execOk(`apt-get install -y --allow-downgrades ${NAME}=${v}`, { env: APT_ENV });
        expect(await host!.execOk(`cat /etc/${NAME}-host /usr/lib/${NAME}/images/${v}/release`)).toBe(`${v}\n${v}\n`);
      }
      const gone = await host!.exec(`apt-get install -y --allow-downgrades ${NAME}=1.0.0`, { env: APT_ENV });
      expect(gone.exitCode).not.toBe(0);
      expect(gone.stderr).toMatch(/Version '1\.0\.0' for 'eb-demo' was not found/);
      const madison = await host!.execOk(`apt-cache madison ${NAME}`);
      expect([...madison.matchAll(/^\s*eb-demo \|\s*(\S+) \|/gm)].map((m) => m[1])).toEqual(['1.2.0', '1.1.0']);
      for (const f of ['eb-demo/eb-demo_1.0.0_all.deb', 'eb-demo-image-1.0.0/eb-demo-image-1.0.0_1.0.0_all.deb']) {
        expect((await fetch(`${server.url}pool/main/e/${f}`)).status, f).toBe(404);
      }
      await host!.execOk(`apt-get install -y ${NAME}`, { env: APT_ENV });
      expect(await installed(NAME)).toBe('1.2.0');
    });

    it('upgrades through a signing key rotation with no step on the host: the next key rides in the keyring package, then signs', async () => {
      expect(await hostKeyring()).toEqual([k1.fingerprint]);
      const nextKey = path.join(work, 'next-key.gpg');
      fs.writeFileSync(
        nextKey,
        (await execa('gpg', ['--batch', '--homedir', k2.gnupgHome, '--export', k2.fingerprint], { encoding: 'buffer', stripFinalNewline: false })).stdout,
      );
      const announced = await publishCli(k1, ['--next-key', nextKey]);
      expect(announced.exitCode, announced.stderr).toBe(0);
      expect(announced.stdout).toMatch(/^added eb-demo-archive-keyring 2 all: /m);
      // What an unattended upgrade does.
      expect((await update()).exitCode).toBe(0);
      await host!.execOk('apt-get upgrade -y', { env: APT_ENV });
      expect(await installed(`${NAME}-archive-keyring`)).toBe('2');
      expect(await hostKeyring()).toEqual([k1.fingerprint, k2.fingerprint]);

      // The rotation: the next key signs; the host's next update and upgrade just work.
      const rotated = await publishCli(k2, ['--resign']);
      expect(rotated.exitCode, rotated.stderr).toBe(0);
      expect(rotated.stdout).toMatch(new RegExp(`^signed dists/stable/InRelease with ${k2.fingerprint}: `, 'm'));
      const up = await update();
      expect(up.exitCode, up.stdout + up.stderr).toBe(0);
      expect(up.stdout + up.stderr).not.toMatch(/^(W|E|Err):/m);
      await host!.execOk('apt-get upgrade -y', { env: APT_ENV });
      expect(await installed(`${NAME}-archive-keyring`)).toBe('3');
      // The old key is trusted no more.
      expect(await hostKeyring()).toEqual([k2.fingerprint]);
    });

    it("install.sh verifies a release's signature with sqv (there is no gpgv here), and refuses a tampered SHA256SUMS", async () => {
      expect((await host!.exec('command -v gpgv')).exitCode).not.toBe(0);
      // install.sh needs zstd, which the admin installs from Debian.
      await host!.execOk('apt-get install -y --no-install-recommends zstd', { env: APT_ENV, timeoutMs: 180_000 });
      const release = await makeRelease(testRecipe({ name: 'ebtest', version: '1.1.0' }));
      try {
        fs.cpSync(release.dir, host!.path('/root/release'), { recursive: true });
        const fpr = (await testReleaseKey()).fingerprint;
        const run = (args: string) =>
          host!.exec(`mkdir -p /root/scratch && cd /root/release && sh ./install.sh --root /root/scratch --dry-run install --fingerprint ${fpr} ${args}`);
        const ok = await run(`./${path.basename(release.tarball)}`);
        expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
        expect(ok.stdout).toContain(`SHA256SUMS is signed by ${fpr}`);
        expect(ok.stdout).toContain('would switch current to 1.1.0');
        await host!.execOk('echo "0000  tampered" >>/root/release/SHA256SUMS');
        const bad = await run(`./${path.basename(release.tarball)}`);
        expect(bad.exitCode).not.toBe(0);
        expect(bad.stderr).toMatch(/carries no good signature by [0-9A-F]{40} \(.*\): the files may have been changed/);
      } finally {
        fs.rmSync(release.dir, { recursive: true, force: true });
      }
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
      console.log(
        `[harness] bookworm: tarball ${tree.tarball.cached ? 'cached' : 'cold'} ${tree.tarball.seconds}s, unpack ${tree.unpackSeconds}s, boot ${host.bootSeconds}s (${host.bootState})`,
      );
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
    it(
      mode === 'exit' ? 'process.exit() without poweroff: the host is stopped' : 'SIGKILL of the test process: the parent-death signal halts the host',
      async () => {
        const proc = execa(process.execPath, [child, mode, 'trixie'], { reject: false, buffer: { stdout: true, stderr: true } });
        let line = '';
        proc.stdout?.on('data', (c: Buffer) => {
          line += c.toString();
        });
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
          for (const pid of [initPid, nspawnPid])
            if (!isGone(pid))
              try {
                process.kill(pid, 'SIGKILL');
              } catch {
                /* gone */
              }
          await waitFor(() => isGone(nspawnPid), 10_000);
          // The crashed process could not remove its tree; a test's afterAll would not have run either.
          if (mountsBelow(workDir).length === 0) fs.rmSync(workDir, { recursive: true, force: true });
        }
      },
    );
  }
});
