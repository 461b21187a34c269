// The spawn helper for real, on this machine (no booted systemd, so it runs with --register=no,
// which it picks by itself): a trixie image with the image conventions, installed with the real
// install.sh into a scratch root, and real OpenSSH connections whose ProxyCommand is the spawn
// helper, exactly what the service's ExecStart runs per connection. Checks the nspawn flag set:
// private users, the idmapped key bind, read-only root, tmpfs home and /tmp with their sizes,
// rlimits, binds, one container per connection, and the host tool against live containers.
// Not here (needs a booted host, see test/e2e): the socket unit, machined registration, cgroup
// properties of the service.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { disposeTrackedKeys } from '../e2e/harness/gpg-key.ts';
import { describeWith } from '../helpers/env.ts';
import { TEST_CACHE } from '../helpers/paths.ts';
import { applyImageConventions, bootstrapTestImage, ctl, installSh, makeRelease, newHostRoot, tempDir, testRecipe } from './host-fixture.ts';

const NAME = 'ebspawn';
const PORT = 2424;
const dirs: string[] = [];
let root: string;
let bindSource: string;
// add_key (248 on x86_64) is outside nspawn's allow list; without the filter a user namespace
// may add a key to its own keyring, so the refusal shows the filter at work.
const PROBE = `grep '^Seccomp:' /proc/self/status; perl -e 'my ($t, $d, $p) = ("user", "eb-probe", "x"); print syscall(248, $t, $d, $p, 1, -2) > 0 ? "added\\n" : "refused: $!\\n"'`;
/** What PROBE prints under the filter. */
const FILTERED = ['Seccomp:\t2', 'refused: Operation not permitted'];
const live: ReturnType<typeof openConnection>[] = [];

/** `ctl refresh-filter`: stores nspawn's filter and returns what it says it stored. */
async function refresh(): Promise<string | undefined> {
  const r = await ctl(root, NAME, ['refresh-filter']);
  expect(r.exitCode, r.all).toBe(0);
  const chain = /syscall-filter: (\d+ filters, \d+( \+ \d+)* instructions)$/.exec(r.stdout)?.[1];
  expect(chain, r.all).toBeDefined();
  return chain;
}

afterAll(async () => {
  for (const p of live) p.kill('SIGKILL');
  await Promise.allSettled(live);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await disposeTrackedKeys();
  // Outside a booted systemd /run is no tmpfs, and nspawn leaves an empty propagation directory
  // per machine there ("we can't allow that"); ours are named after NAME.
  const propagate = '/run/systemd/nspawn/propagate';
  for (const dir of fs.existsSync(propagate) ? fs.readdirSync(propagate) : []) {
    if (dir.startsWith(`${NAME}-`)) fs.rmSync(path.join(propagate, dir), { recursive: true, force: true });
  }
});

function sshArgs(): string[] {
  const etc = path.join(root, 'etc', NAME);
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${etc}/runner/known_hosts`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    `IdentityFile=${etc}/runner/id_ed25519`,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'LogLevel=ERROR',
    '-o',
    `ProxyCommand=env EB_ROOT=${root} ${root}/usr/lib/${NAME}/spawn`,
    '-p',
    String(PORT),
    'builder@127.0.0.1',
  ];
}

/** PIDs on this machine whose command line starts with `argv0`. */
function pidsOf(argv0: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0')[0] === argv0;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The nearest ancestor of `pid` whose comm is `comm`. */
function ancestorNamed(pid: number, comm: string): number {
  for (let p = pid; p > 1; ) {
    const status = fs.readFileSync(`/proc/${p}/status`, 'utf8');
    if (/^Name:\t(.*)$/m.exec(status)?.[1] === comm) return p;
    p = Number(/^PPid:\t(\d+)$/m.exec(status)?.[1]);
  }
  throw new Error(`no ancestor of ${pid} is ${comm}`);
}

/** One connection, one command (as GitLab Runner's SSH executor: no pty, script on stdin allowed). */
function ssh(command: string, input?: string) {
  return execa('ssh', [...sshArgs(), command], { reject: false, input: input ?? '' });
}

function openConnection(command: string) {
  return execa('ssh', [...sshArgs(), `${command}; echo started; read -r _; echo done`], { reject: false, stdin: 'pipe' });
}

/** A connection that stays open until its stdin is closed, reporting when its command started. */
function hold(command: string): { proc: ReturnType<typeof openConnection>; started: Promise<void> } {
  const proc = openConnection(command);
  live.push(proc);
  const started = new Promise<void>((resolve, reject) => {
    let seen = '';
    proc.stdout!.on('data', (c: Buffer) => {
      seen += c.toString();
      if (seen.includes('started')) resolve();
    });
    proc.then(() => reject(new Error(`connection ended early: ${seen}`)), reject);
  });
  return { proc, started };
}

describeWith({ root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'ssh', 'ssh-keygen', 'zstd', 'tar'] }, 'the spawn helper with real nspawn and ssh', () => {
  beforeAll(async () => {
    const work = tempDir('eb-spawn');
    dirs.push(work);
    bindSource = path.join(work, 'host-tool');
    fs.writeFileSync(bindSource, 'from the host\n');
    const recipe = testRecipe({
      name: NAME,
      version: '1.0.0',
      ssh: { port: PORT },
      limits: { homeSize: '32M', tasks: 64, addressSpace: '3G' },
      binds: [
        { source: bindSource, target: '/usr/bin/gitlab-runner', optional: false },
        { source: '/nonexistent/optional-tool', target: '/usr/bin/gitlab-runner', optional: true },
      ],
    });
    const rootfs = path.join(work, 'rootfs');
    await bootstrapTestImage(path.join(TEST_CACHE, 'host'), rootfs);
    applyImageConventions(rootfs, recipe, ['/usr/bin/gitlab-runner']);
    fs.writeFileSync(path.join(rootfs, 'etc/eb-test-release'), '1.0.0\n');
    const release = await makeRelease(recipe, { image: rootfs });
    dirs.push(release.dir);
    fs.rmSync(rootfs, { recursive: true, force: true });
    root = newHostRoot();
    dirs.push(root);
    const res = await installSh(release, root, ['install', release.tarball]);
    expect(res.exitCode, res.all).toBe(0);
  });

  it('logs the builder in, in its home filled from the template, with the host key from known-hosts', async () => {
    const res = await ssh('id -un; id -u; pwd; test -f ~/.bashrc && echo has-bashrc; stat -c %a ~');
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout.split('\n')).toEqual(['builder', '9000', '/home/builder', 'has-bashrc', '700']);
  });

  it('runs a job script from stdin in bash -l without a pty, and returns its exit code', async () => {
    const res = await ssh('bash -l', 'set -eo pipefail\necho "tty: $(tty || true)"\ngit --version\nexit 42\n');
    expect(res.stdout).toContain('tty: not a tty');
    expect(res.stdout).toMatch(/git version \d/);
    expect(res.exitCode).toBe(42);
  });

  it('maps container root to an unprivileged host uid range (private users)', async () => {
    const res = await ssh('cat /proc/self/uid_map');
    const [inside, outside, count] = res.stdout.trim().split(/\s+/).map(Number);
    expect(inside).toBe(0);
    expect(outside).toBeGreaterThanOrEqual(524288);
    expect(count).toBe(65536);
  });

  it('runs jobs with no_new_privs, so no setuid binary lifts the builder', async () => {
    const res = await ssh('grep NoNewPrivs /proc/self/status');
    expect(res.stdout.trim()).toMatch(/^NoNewPrivs:\s+1$/);
  });

  it("runs jobs under nspawn's system call filter, unless SYSCALL_FILTER=no", async () => {
    const conf = path.join(root, 'etc', NAME, `${NAME}.conf`);
    const original = fs.readFileSync(conf, 'utf8');
    expect(original).toMatch(/^SYSCALL_FILTER=yes$/m);
    // An opt-out in the caller's environment is ignored: only the config file decides.
    const filtered = await execa('ssh', [...sshArgs(), PROBE], { reject: false, env: { SYSTEMD_SECCOMP: '0' } });
    expect(filtered.stdout.split('\n'), filtered.stderr).toEqual(FILTERED);
    try {
      fs.writeFileSync(conf, original.replace(/^SYSCALL_FILTER=yes$/m, 'SYSCALL_FILTER=no'));
      const open = await ssh(PROBE);
      expect(open.stdout.split('\n'), open.stderr).toEqual(['Seccomp:\t0', 'added']);
      expect((await ctl(root, NAME, ['doctor'])).stdout).toMatch(/^warn {2}SYSCALL_FILTER=no in .*: containers run without nspawn's system call filter/m);
      fs.writeFileSync(conf, original.replace(/^SYSCALL_FILTER=yes$/m, 'SYSCALL_FILTER=off'));
      const bad = await execa(path.join(root, 'usr/lib', NAME, 'spawn'), ['--exec', '/bin/true'], { reject: false, env: { EB_ROOT: root }, stdin: 'ignore' });
      expect(bad.exitCode).toBe(1);
      expect(bad.stderr).toBe(`${NAME} spawn: SYSCALL_FILTER must be yes or no, not 'off' (in ${conf})`);
    } finally {
      fs.writeFileSync(conf, original);
    }
  });

  it("stores nspawn's filter once and loads that very filter into every container (refresh-filter)", async () => {
    const stored = path.join(root, 'var/lib', NAME, 'syscall-filter');
    const helper = path.join(root, 'usr/lib', NAME, 'syscall-filter');
    const conf = path.join(root, 'etc', NAME, `${NAME}.conf`);
    const chain = await refresh();
    const file = fs.readFileSync(stored);
    const headerEnd = file.indexOf(0x0a) + 1;
    // What made it: the machine and kernel, nspawn, the libraries nspawn had loaded, the options.
    const head = file.subarray(0, headerEnd).toString();
    expect(head).toMatch(
      new RegExp(`^ebsf2 arch=${os.machine()} kernel=${os.release().replaceAll('.', '\\.')} nspawn=[\\d:]+( lib=/\\S+@[\\d:]+)+ options=\\n$`),
    );
    expect(head).toMatch(/ lib=\S*\/libseccomp\.so[.\d]*@/);
    expect(head).toMatch(/ lib=\S*\/libsystemd-shared-\d+\.so@/);

    // A connection, its container holding a process we can find from here.
    const token = `eb-probe-${process.pid}-${Date.now()}`;
    const held = hold(`(exec -a ${token} sleep 300 </dev/null >/dev/null 2>&1) & :`);
    await held.started;
    try {
      // The background process may exec a moment after the job said it started.
      let job = pidsOf(token);
      for (let i = 0; i < 50 && job.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        job = pidsOf(token);
      }
      expect(job).toHaveLength(1);
      // The job runs under exactly the chain nspawn made when refresh-filter asked it to...
      const dumped = path.join(root, 'dumped-filter');
      const d = await execa('perl', [helper, 'dump', String(job[0]), dumped], { reject: false, all: true });
      expect(d.exitCode, d.all).toBe(0);
      expect(d.stdout).toBe(`${dumped}: ${chain}`);
      expect(fs.readFileSync(dumped).equals(file.subarray(headerEnd))).toBe(true);
      // ...and nspawn did not make it this time: nspawn itself runs under the loaded filter (it
      // never filters itself), with upstream's switch that tells it not to compile its own.
      const nspawn = ancestorNamed(job[0]!, 'systemd-nspawn');
      expect(fs.readFileSync(`/proc/${nspawn}/status`, 'utf8')).toMatch(/^Seccomp:\t2$/m);
      expect(fs.readFileSync(`/proc/${nspawn}/environ`, 'utf8').split('\0')).toContain('SYSTEMD_SECCOMP=0');
    } finally {
      held.proc.stdin!.end();
      await held.proc;
    }
    // The caller's environment still cannot turn it off.
    const filtered = await execa('ssh', [...sshArgs(), PROBE], { reject: false, env: { SYSTEMD_SECCOMP: '0' } });
    expect(filtered.stdout.split('\n'), filtered.stderr).toEqual(FILTERED);
    expect(filtered.stderr).not.toContain('syscall-filter');

    // Other extra nspawn options may make another filter, so the stored one is stale: nspawn
    // compiles its own, and the connection's log says why. Other settings leave it in use. A
    // damaged file, or one others may write, is refused the same way.
    const original = fs.readFileSync(conf, 'utf8');
    try {
      fs.writeFileSync(conf, original.replace(/^HOME_SIZE=.*$/m, 'HOME_SIZE=48M'));
      const other = await ssh(PROBE);
      expect(other.stdout.split('\n'), other.stderr).toEqual(FILTERED);
      expect(other.stderr).not.toContain('syscall-filter');
      fs.writeFileSync(conf, original.replace(/^NSPAWN_EXTRA=.*$/m, 'NSPAWN_EXTRA="--setenv=EB_TEST=1"'));
      const stale = await ssh(PROBE);
      expect(stale.stdout.split('\n'), stale.stderr).toEqual(FILTERED);
      expect(stale.stderr).toContain(
        `${NAME} syscall-filter: ${stored} is stale: systemd-nspawn, a library it loads (libseccomp, libsystemd-shared...), the kernel, the architecture or the extra nspawn options (NSPAWN_EXTRA) changed since it was made (run ${NAME}ctl refresh-filter); nspawn compiles its filter for this container`,
      );
      // Outside a booted systemd (an EB_ROOT tree) nothing stores it again in the background: the
      // stale file stays (product-install-sh.test.ts has a booted host do it).
      expect(stale.stderr).not.toContain('stores it again');
      expect((await ctl(root, NAME, ['doctor'])).stdout).toMatch(/^warn {2}nspawn's system call filter is on, but compiled for every container .* is stale/m);
      await refresh();
      expect((await ssh(PROBE)).stderr).not.toContain('syscall-filter');
      const good = fs.readFileSync(stored);
      fs.writeFileSync(stored, Buffer.concat([good.subarray(0, good.indexOf(0x0a) + 1), Buffer.from([0, 0, 0x40, 0, 1, 2, 3])]));
      const damaged = await ssh(PROBE);
      expect(damaged.stdout.split('\n'), damaged.stderr).toEqual(FILTERED);
      expect(damaged.stderr).toContain(`${stored} is damaged`);
      // Whoever may write the file decides what containers may do: a file others may write is refused.
      await refresh();
      fs.chmodSync(stored, 0o666);
      const writable = await ssh(PROBE);
      expect(writable.stdout.split('\n'), writable.stderr).toEqual(FILTERED);
      expect(writable.stderr).toContain(`${stored} is not root's alone (owner 0, mode 666; run ${NAME}ctl refresh-filter)`);
    } finally {
      fs.writeFileSync(conf, original);
      await refresh();
    }
  });

  it('keeps the root read-only, the home and /tmp writable up to their tmpfs size', async () => {
    const res = await ssh(
      'touch /usr/x 2>&1; echo hi > ~/f && cat ~/f; ' +
        'dd if=/dev/zero of=$HOME/big bs=1M count=64 2>&1 | grep -o "No space left on device" | head -n 1; ' +
        'dd if=/dev/zero of=/tmp/big bs=1M count=64 2>&1 | grep -o "No space left on device" | head -n 1; ' +
        'df -k --output=size,target ~ /tmp | tail -n 2',
    );
    const lines = res.stdout.split('\n');
    expect(lines[0]).toMatch(/Read-only file system/);
    expect(lines[1]).toBe('hi');
    expect(lines[2]).toBe('No space left on device');
    expect(lines[3]).toBe('No space left on device');
    expect(lines[4]).toMatch(/^\s*32768 \/home\/builder$/);
    expect(lines[5]).toMatch(/^\s*32768 \/tmp$/);
  });

  it("gives sshd its privilege separation directory as a tmpfs of its own, root's, mode 0755", async () => {
    // nspawn mounts it (container-init would otherwise spend a mkdir process on every connection).
    const res = await ssh('awk \'$5 == "/run/sshd" { print $9 }\' /proc/self/mountinfo; stat -c "%u %a" /run/sshd');
    expect(res.stdout.split('\n')).toEqual(['tmpfs', '0 755']);
  });

  it('sets the per-container rlimits: processes and address space', async () => {
    const res = await ssh('ulimit -u; ulimit -v');
    expect(res.stdout.split('\n')).toEqual(['64', String(3 * 1024 * 1024)]);
  });

  it('binds the host keys so that sshd reads them and the builder cannot', async () => {
    const res = await ssh(
      'stat -c "%u %a %n" /etc/ssh/ephemeral/ssh_host_ed25519_key; cat /etc/ssh/ephemeral/ssh_host_ed25519_key 2>&1 | head -n 1; touch /etc/ssh/ephemeral/x 2>&1',
    );
    const lines = res.stdout.split('\n');
    // idmap: owned by (container) root, 0600, as on the host.
    expect(lines[0]).toBe('0 600 /etc/ssh/ephemeral/ssh_host_ed25519_key');
    expect(lines[1]).toMatch(/Permission denied/);
    expect(lines[2]).toMatch(/Read-only file system|Permission denied/);
  });

  it('binds the recipe binds read-only and skips an optional one the host lacks', async () => {
    const res = await ssh('cat /usr/bin/gitlab-runner; awk \'$5 == "/usr/bin/gitlab-runner" { split($6, o, ","); print o[1] }\' /proc/self/mountinfo');
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout.split('\n')).toEqual(['from the host', 'ro']);
  });

  it('gives every connection its own container: own hostname, nothing shared, nothing kept', async () => {
    const a = hold('hostname; echo a > ~/mine; echo a > /tmp/mine');
    await a.started;
    const b = await ssh('hostname; cat ~/mine /tmp/mine 2>&1 | grep -c "No such file"');
    a.proc.stdin!.end('\n');
    const aOut = (await a.proc).stdout.split('\n');
    const bOut = b.stdout.split('\n');
    expect(aOut[0]).toMatch(new RegExp(`^${NAME}-x-\\d+$`));
    expect(bOut[0]).toMatch(new RegExp(`^${NAME}-x-\\d+$`));
    expect(aOut[0]).not.toBe(bOut[0]);
    expect(bOut[1]).toBe('2');
    const after = await ssh('ls -A ~ | grep -c mine; ls /tmp | grep -c mine');
    expect(after.stdout.split('\n')).toEqual(['0', '0']);
  });

  it('stops a fork storm at the process limit of its own container only', async () => {
    // The sleeps must not hold grep's pipe open: only sh's own "Cannot fork" goes there.
    const storm = hold('sh -c \'i=0; while [ $i -lt 200 ]; do sleep 30 </dev/null >/dev/null 2>&1 & i=$((i+1)); done\' 2>&1 | grep -c "fork"');
    await storm.started;
    const other = await ssh('echo unharmed; ps -u builder --no-headers | wc -l');
    storm.proc.stdin!.end('\n');
    const stormOut = (await storm.proc).stdout.split('\n');
    expect(Number(stormOut[0])).toBeGreaterThan(0);
    expect(other.exitCode, other.stderr).toBe(0);
    expect(other.stdout.split('\n')[0]).toBe('unharmed');
    expect(Number(other.stdout.split('\n')[1])).toBeLessThan(10);
  });

  it('keeps running containers on their image across `use`, and gc refuses an image in use', async () => {
    // A second image version, as install.sh would leave it: a copy with a different marker.
    const images = path.join(root, 'usr/lib', NAME, 'images');
    await execa('cp', ['-al', path.join(images, '1.0.0'), path.join(images, '1.1.0')]);
    fs.rmSync(path.join(images, '1.1.0/etc/eb-test-release'));
    fs.writeFileSync(path.join(images, '1.1.0/etc/eb-test-release'), '1.1.0\n');

    const old = hold('cat /etc/eb-test-release');
    await old.started;
    const status = await ctl(root, NAME, ['status']);
    expect(status.stdout).toContain('containers: 1');
    expect(status.stdout).toMatch(new RegExp(`${NAME}-x-\\d+\\s+image 1\\.0\\.0`));

    expect((await ctl(root, NAME, ['use', '1.1.0'])).exitCode).toBe(0);
    expect((await ssh('cat /etc/eb-test-release')).stdout).toBe('1.1.0');
    const gc = await ctl(root, NAME, ['gc', '--keep', '0']);
    expect(gc.exitCode, gc.all).toBe(0);
    expect(gc.stdout).toMatch(new RegExp(`keeping 1\\.0\\.0: in use by ${NAME}-x-\\d+`));
    expect(fs.existsSync(path.join(images, '1.0.0/etc/eb-test-release'))).toBe(true);

    old.proc.stdin!.end('\n');
    const oldOut = await old.proc;
    expect(oldOut.exitCode).toBe(0);
    expect(oldOut.stdout.split('\n')).toEqual(['1.0.0', 'started', 'done']);

    expect((await ctl(root, NAME, ['status'])).stdout).toContain('containers: none');
    const gc2 = await ctl(root, NAME, ['gc', '--keep', '0']);
    expect(gc2.stdout).toContain('removing 1.0.0');
    expect(fs.readdirSync(images).filter((n) => !n.startsWith('.'))).toEqual(['1.1.0']);
    expect((await ssh('cat /etc/eb-test-release')).stdout).toBe('1.1.0');
  });

  it('runs a throw-away shell command as the builder (ctl shell)', async () => {
    const res = await ctl(root, NAME, ['shell', 'sh', '-c', 'id -un; pwd; ls -A ~ | grep -c bashrc']);
    expect(res.exitCode, res.all).toBe(0);
    expect(res.stdout.split('\n').slice(-3)).toEqual(['builder', '/', '1']);
  });

  it("starts from a caller's directory that is gone, and when called by a relative path", async () => {
    // spawn changes directory to resolve the current link (cd -P) and goes back, for a relative $0:
    // the filter helper is found next to it. From a directory that is gone, $PWD is empty and
    // going back does nothing.
    const lib = path.join(root, 'usr/lib', NAME);
    await refresh();
    const gone = tempDir('eb-gone');
    const res = await execa(
      'sh',
      ['-c', 'cd "$1" && rmdir "$1" && "$2/spawn" --exec /bin/echo from-gone && cd "$2" && ./spawn --exec /bin/echo relative', 'sh', gone, lib],
      { reject: false, all: true, env: { EB_ROOT: root } },
    );
    expect(res.exitCode, res.all).toBe(0);
    expect(res.stdout.split('\n').filter((l) => /^(from-gone|relative)$/.test(l))).toEqual(['from-gone', 'relative']);
    // Both loaded the stored filter, through the helper next to spawn, with nothing to say.
    expect(res.stderr).not.toContain('syscall-filter');
  });

  it('doctor passes here, starting a real container, and says systemd is not running', async () => {
    const res = await ctl(root, NAME, ['doctor']);
    expect(res.exitCode, res.all).toBe(0);
    expect(res.stdout).toMatch(/^ok {4}systemd-nspawn \d+$/m);
    expect(res.stdout).toMatch(/^ok {4}host key .*ssh_host_ecdsa_key$/m);
    expect(res.stdout).toMatch(/^ok {4}current image 1\.1\.0$/m);
    expect(res.stdout).toMatch(/^ok {4}a container starts and exits$/m);
    expect(res.stdout).toMatch(/^ok {4}nspawn's system call filter is on, stored: \d+ filters, /m);
    expect(res.stdout).toMatch(/^warn {2}systemd is not running as init/m);
  });

  it('refuses the connection when there is no current image, saying why', async () => {
    const link = path.join(root, 'var/lib', NAME, 'current');
    const target = fs.readlinkSync(link);
    fs.rmSync(link);
    try {
      const res = await ssh('true');
      expect(res.exitCode).not.toBe(0);
      expect(res.stderr).toContain('no current image');
    } finally {
      fs.symlinkSync(target, link);
    }
  });
});
