// Security of a host running the product: recipes/minimal.ts 1.0.0 installed
// with apt on a booted Debian 13 host, probed from this machine over real SSH. Each threat is one
// test: logins that must be refused, forwarding of every kind, becoming root in the container,
// container root on the host, the host's private keys, private keys in the artifacts, the listen
// address, the host's processes, and one job's files seen from another.
// Forwarding is refused twice over: by `restrict` on the runner's key in authorized_keys, and by
// the image's sshd drop-in alone, which a second, unrestricted key (added the way the file's own
// comment tells an admin to) shows.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/env.ts';
import { waitFor } from './product/ssh.ts';
import { artifacts, CTL, NAME, USER, type Artifacts } from './product/artifacts.ts';
import { checkConnectionFlood } from './product/checks.ts';
import { bootProductHost, containerProcesses, installFromRepo, machines, SOCKET, socketCounter, waitNoContainers, type ProductHost } from './product/host.ts';
import { makeProductRepo, type ProductRepo } from './product/repo.ts';
import { HeldJob, ssh, sshOk, type SshTarget } from './product/ssh.ts';

const NEEDS = {
  root: true,
  tools: ['mmdebstrap', 'systemd-nspawn', 'nsenter', 'setpriv', 'zstd', 'tar', 'dpkg-deb', 'gpg', 'gpgv', 'ssh', 'ssh-agent', 'ssh-keygen', 'grep'],
};

/**
 * Every setuid/setgid file of the image, and why it may stay. None lets the builder become root:
 * root's and the builder's password fields are "*" (no password can match), and container root is
 * an unprivileged uid on the host anyway (see the test below).
 */
const SETUID_EXPECTED: Record<string, string> = {
  '4755 root root /usr/bin/su': 'util-linux: asks for the target user\'s password; root has none ("*")',
  '4755 root root /usr/bin/passwd': "passwd: changes the caller's own password after authenticating with it; the builder has none",
  '4755 root root /usr/bin/chsh': "passwd: the caller's own shell, after PAM authentication (no password)",
  '4755 root root /usr/bin/chfn': "passwd: the caller's own GECOS field, after PAM authentication (no password)",
  '4755 root root /usr/bin/gpasswd': 'passwd: group administrators only; the image defines none',
  '4755 root root /usr/bin/newgrp': 'login: groups with passwords only; the image has none',
  '4755 root root /usr/bin/mount': 'mount: only fstab entries marked "user"; the image has none',
  '4755 root root /usr/bin/umount': 'mount: only fstab entries marked "user"; the image has none',
  '4755 root root /usr/lib/openssh/ssh-keysign': 'openssh-client: host-based authentication, off unless EnableSSHKeysign',
  '2755 root shadow /usr/sbin/unix_chkpwd': "libpam-modules: setgid shadow, checks the caller's own password only",
  '2755 root shadow /usr/bin/expiry': "passwd: setgid shadow, reads the caller's own expiry",
  '2755 root shadow /usr/bin/chage': "passwd: setgid shadow, -l lists the caller's own aging only",
  '2755 root _ssh /usr/bin/ssh-agent': 'openssh-client: setgid _ssh, only so that other users cannot ptrace the agent',
};

/** A PEM private key block with a body: what a leaked key file looks like (PCRE, whole-file). */
const PEM_PRIVATE_KEY = '-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\\s*[A-Za-z0-9+/=\\s]{40}';
const PGP_PRIVATE_KEY = '-----BEGIN PGP PRIVATE KEY BLOCK-----';

/** Files below `dir` holding a private key: a quick fixed-string pass, then the strict pattern. */
async function filesWithPrivateKeys(dir: string): Promise<string[]> {
  const rough = await execa('grep', ['-rlaF', '-e', 'PRIVATE KEY-----', '-e', PGP_PRIVATE_KEY, dir], { reject: false });
  const candidates = rough.stdout.split('\n').filter(Boolean);
  const found: string[] = [];
  for (const file of candidates) {
    // -e: the patterns start with "-".
    const strict = await execa('grep', ['-lzaP', '-e', PEM_PRIVATE_KEY, file], { reject: false });
    const pgp = await execa('grep', ['-laF', '-e', PGP_PRIVATE_KEY, file], { reject: false });
    if (strict.exitCode === 0 || pgp.exitCode === 0) found.push(file);
  }
  return found;
}

describeWith(NEEDS, 'security of a host running the product', () => {
  let h: ProductHost | undefined;
  let repo: ProductRepo | undefined;
  let v100: Artifacts;
  let work: string;
  /** An admin-added key without `restrict`: what sshd's own settings allow. */
  let plain: SshTarget;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-security-'));
    const [built, booted, made] = await Promise.allSettled([artifacts('1.0.0'), bootProductHost('trixie', 'security'), makeProductRepo()]);
    if (booted.status === 'fulfilled') h = booted.value;
    if (made.status === 'fulfilled') repo = made.value;
    for (const r of [built, booted, made]) if (r.status === 'rejected') throw r.reason;
    v100 = (built as PromiseFulfilledResult<Artifacts>).value;
    await repo!.add(v100);
    await installFromRepo(h!, repo!);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'admin@test', '-f', path.join(work, 'admin-key')]);
    const authorized = h!.host.path(`/etc/${NAME}/ssh/authorized_keys`);
    fs.appendFileSync(authorized, fs.readFileSync(path.join(work, 'admin-key.pub')));
    plain = { ...h!.target, identity: path.join(work, 'admin-key') };
  });

  afterAll(async () => {
    await h?.poweroff();
    await repo?.dispose();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('refuses password login, root login and every user but the builder; only publickey is offered', async () => {
    const ph = h!;
    expect(await sshOk(ph.target, 'id -un')).toBe(`${USER}\n`);
    expect(await sshOk(plain, 'id -un')).toBe(`${USER}\n`);
    // The server's list of methods that can continue is in the refusal: publickey, nothing else.
    const pw = await ssh(ph.target, 'true', { extra: ['-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive'] });
    expect(pw.exitCode).toBe(255);
    expect(pw.stderr).toMatch(/Permission denied \(publickey\)\./);
    for (const key of [ph.target, plain]) {
      for (const user of ['root', 'daemon', 'nobody', 'sshd']) {
        const r = await ssh({ ...key, user }, 'id');
        expect({ user, code: r.exitCode, out: r.stdout }).toEqual({ user, code: 255, out: '' });
        expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
      }
    }
    const journal = await ph.host.execOk(`journalctl --no-pager -q -o cat -u '${NAME}@*'`);
    expect(journal).toMatch(/User root from 127\.0\.0\.1 not allowed because not listed in AllowUsers/);
    expect(journal).toMatch(/User nobody from 127\.0\.0\.1 not allowed because not listed in AllowUsers/);
  });

  it("refuses agent, X11, TCP (direct and -R) forwarding, with and without the key's restrict", async () => {
    const agentSock = path.join(work, 'agent.sock');
    const agent = execa('ssh-agent', ['-D', '-a', agentSock], { reject: false, stdin: 'ignore' });
    try {
      await waitFor("ssh-agent's socket", async () => (fs.existsSync(agentSock) ? true : undefined), 10_000);
      for (const [label, key] of [
        ['runner key (restrict)', h!.target],
        ['admin key (no restrict)', plain],
      ] as const) {
        // -v makes ssh say that it asked, so a refusal is not mistaken for a request never made.
        const a = await ssh(key, 'echo "agent=[${SSH_AUTH_SOCK-}]"', { extra: ['-v', '-A'], env: { SSH_AUTH_SOCK: agentSock } });
        expect(a.stderr, label).toMatch(/Requesting authentication agent forwarding/);
        expect({ label, out: a.stdout, code: a.exitCode }).toEqual({ label, out: 'agent=[]\n', code: 0 });

        // Trusted: untrusted X11 forwarding needs xauth on this machine, or ssh does not ask at all.
        const x = await ssh(key, 'echo "display=[${DISPLAY-}]"', { extra: ['-o', 'ForwardX11=yes', '-o', 'ForwardX11Trusted=yes'], env: { DISPLAY: ':0' } });
        expect(x.stderr, label).toMatch(/X11 forwarding request failed/);
        expect(x.stdout, label).toBe('display=[]\n');

        // -W is the direct-tcpip channel that -L and -D open for every forwarded connection; -v
        // shows the server's refusal, which is logged below the default level.
        const w = await ssh(key, '', { extra: ['-v', '-W', `127.0.0.1:${h!.port}`], timeoutMs: 30_000 });
        expect(w.exitCode, label).toBe(255);
        expect(w.stderr, label).toMatch(/administratively prohibited/);

        const r = await ssh(key, '', { extra: ['-N', '-R', '0:127.0.0.1:9', '-o', 'ExitOnForwardFailure=yes'], timeoutMs: 30_000 });
        expect(r.exitCode, label).toBe(255);
        expect(r.stderr, label).toMatch(/remote port forwarding failed/);
      }
    } finally {
      agent.kill('SIGTERM');
      await agent;
    }
  });

  it('the builder cannot become root: no sudo, su has no password to take, the setuid files are the expected set', async () => {
    const ph = h!;
    const out = await sshOk(
      ph.target,
      `id -u; command -v sudo || echo no-sudo; ls -d /etc/sudoers /etc/sudoers.d 2>&1 | sed 's/.*cannot access/absent/'
su -c id root </dev/null 2>&1; echo "su=$?"
mount -t tmpfs none /mnt 2>&1; echo "mount=$?"; grep -v '^#' /etc/fstab | grep -c . || true`,
    );
    expect(out.split('\n').slice(0, 2)).toEqual(['9000', 'no-sudo']);
    expect(out).not.toMatch(/^\/etc\/sudoers/m);
    expect(out).toMatch(/su: Authentication failure\nsu=1/);
    expect(out).toMatch(/mount: .*must be superuser[\s\S]*mount=(1|32)/);
    const image = `/usr/lib/${NAME}/images/1.0.0`;
    expect((await ph.host.execOk(`awk -F: '$1 == "root" || $1 == "${USER}" { print $1, $2 }' ${image}/etc/shadow`)).trim().split('\n').sort()).toEqual(
      [`${USER} *`, 'root *'].sort(),
    );
    // Owner and group by name from the image's own passwd and group files (gids differ by build).
    const setuid = (
      await ph.host.execOk(`cd ${image} && find . -xdev -type f -perm /6000 -printf '%m %U %G %p\\n' |
      awk 'FILENAME == "etc/passwd" { split($0, f, ":"); u[f[3]] = f[1]; next } FILENAME == "etc/group" { split($0, f, ":"); g[f[3]] = f[1]; next }
        { sub(/ \\.\\//, " /"); print $1, u[$2], g[$3], $4 }' etc/passwd etc/group - | sort`)
    )
      .trim()
      .split('\n');
    console.log(`[security] setuid/setgid files of the image:\n${setuid.map((l) => `  ${l}: ${SETUID_EXPECTED[l] ?? 'UNEXPECTED'}`).join('\n')}`);
    expect(setuid).toEqual(Object.keys(SETUID_EXPECTED).sort());
  });

  it('container root is an unprivileged uid on the host', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const job = new HeldJob(ph.target, 'cat /proc/self/uid_map; echo ready; read -r _');
    try {
      await job.waitFor(/^ready$/m);
      const [inside, outside, count] = job.stdout.split('\n')[0]!.trim().split(/\s+/).map(Number);
      expect({ inside, count }).toEqual({ inside: 0, count: 65536 });
      expect(outside).toBeGreaterThan(65535);
      // On the host, every process of the container, sshd's privileged part and the container's
      // init included, runs as a uid of that range, never as host root.
      const procs = (await containerProcesses(ph)).map((l) => l.split(/\s+/));
      const uids = new Set(procs.map((p) => Number(p[0])));
      expect(uids.has(outside!)).toBe(true); // container root: the init stub and sshd's monitor
      expect(uids.has(outside! + 9000)).toBe(true); // the builder
      for (const uid of uids) expect(uid >= outside! && uid < outside! + 65536).toBe(true);
      const rootProcs = procs.filter((p) => Number(p[0]) === outside).map((p) => p[2]);
      expect(rootProcs).toEqual(expect.arrayContaining(['sshd-session']));
      const hostRoot = await ph.host.execOk(`ps -e -o uid=,comm= | awk '$1 == 0 { print $2 }' | sort -u`);
      expect(hostRoot).not.toMatch(/^sshd/m);
    } finally {
      await job.end().catch(() => job.kill());
    }
  });

  it("the host's private keys are not readable by the builder; the runner's key is not in the container", async () => {
    const ph = h!;
    const out = await sshOk(
      ph.target,
      `cd /etc/ssh/ephemeral && ls -ln | awk 'NR > 1 { print $1, $3, $4, $9 }'
for k in ssh_host_*_key; do cat "$k" >/dev/null 2>&1 && echo "READ $k" || echo "denied $k"; done
for k in ssh_host_*_key.pub; do cat "$k" >/dev/null && echo "public $k"; done
ls /etc/${NAME} 2>&1 | sed 's/.*No such file.*/no-etc-dir/'
awk '$5 == "/etc/ssh/ephemeral" { print $6 }' /proc/self/mountinfo`,
    );
    for (const t of ['ecdsa', 'rsa', 'ed25519']) {
      expect(out).toContain(`-rw------- 0 0 ssh_host_${t}_key\n`);
      expect(out).toContain(`denied ssh_host_${t}_key\n`);
      expect(out).toContain(`public ssh_host_${t}_key.pub\n`);
    }
    expect(out).not.toContain('READ');
    expect(out).toContain('no-etc-dir');
    expect(out.trim().split('\n').at(-1)).toMatch(/^ro,/);
    // On the host: the keys root's only; the runner's directory closed.
    expect(
      (await ph.host.execOk(`stat -c '%a %U %n' /etc/${NAME}/ssh/ssh_host_*_key /etc/${NAME}/runner /etc/${NAME}/runner/id_ed25519`)).trim().split('\n'),
    ).toEqual([
      `600 root /etc/${NAME}/ssh/ssh_host_ecdsa_key`,
      `600 root /etc/${NAME}/ssh/ssh_host_ed25519_key`,
      `600 root /etc/${NAME}/ssh/ssh_host_rsa_key`,
      `700 root /etc/${NAME}/runner`,
      `600 root /etc/${NAME}/runner/id_ed25519`,
    ]);
  });

  it('no private key is in any artifact or in the published repository', async () => {
    const dir = path.join(work, 'artifacts');
    fs.mkdirSync(dir);
    // The scan finds a key when there is one: a freshly made key and a secret OpenPGP export.
    const probe = path.join(work, 'probe');
    fs.mkdirSync(probe);
    await execa('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', path.join(probe, 'k')]);
    await execa('ssh-keygen', ['-q', '-t', 'rsa', '-m', 'PEM', '-N', '', '-f', path.join(probe, 'r')]);
    expect((await filesWithPrivateKeys(probe)).map((f) => path.basename(f)).sort()).toEqual(['k', 'r']);

    for (const deb of [v100.imageDeb, v100.hostDeb]) {
      const into = path.join(dir, path.basename(deb));
      await execa('dpkg-deb', ['-x', deb, into]);
      await execa('dpkg-deb', ['-e', deb, path.join(into, 'DEBIAN')]);
    }
    const tarDir = path.join(dir, 'tarball');
    fs.mkdirSync(tarDir);
    await execa('tar', ['--zstd', '-xf', v100.tarball, '-C', tarDir]);
    for (const f of [v100.installSh, v100.manifest, v100.sha256sums]) fs.copyFileSync(f, path.join(dir, path.basename(f)));
    // Key files: none. Compiled programs: only GnuTLS, which carries fixed, published keys for its
    // FIPS 140 power-on self-tests (lib/crypto-selftests.c); they come from Debian's package as is.
    const found = await filesWithPrivateKeys(dir);
    const isElf = (f: string) => {
      const fd = fs.openSync(f, 'r');
      try {
        const magic = Buffer.alloc(4);
        fs.readSync(fd, magic, 0, 4, 0);
        return magic.toString('latin1') === '\x7fELF';
      } finally {
        fs.closeSync(fd);
      }
    };
    console.log(`[security] files with a PEM private key block:\n${found.map((f) => `  ${path.relative(dir, f)}`).join('\n') || '  none'}`);
    expect(found.filter((f) => !isElf(f))).toEqual([]);
    expect(
      found
        .filter(isElf)
        .map((f) => path.basename(f))
        .filter((b) => !/^libgnutls\.so\./.test(b)),
    ).toEqual([]);
    const keyNames = await execa('find', [dir, '-name', 'ssh_host_*', '-o', '-name', 'id_rsa*', '-o', '-name', 'id_ed25519*', '-o', '-name', 'id_ecdsa*'], {
      reject: false,
    });
    expect(keyNames.stdout).toBe('');
    // The image's ssh host key directory is an empty mount point.
    expect(fs.readdirSync(path.join(dir, path.basename(v100.imageDeb), `usr/lib/${NAME}/images/1.0.0/etc/ssh/ephemeral`))).toEqual([]);

    expect(await filesWithPrivateKeys(repo!.dir)).toEqual([]);
    const keyring = fs.readdirSync(repo!.dir).find((f) => f.endsWith('.gpg'))!;
    const packets = await execa('gpg', ['--homedir', work, '--batch', '--list-packets', path.join(repo!.dir, keyring)], { reject: false });
    expect(packets.stdout).toMatch(/^:public key packet:/m);
    expect(packets.stdout).not.toMatch(/secret key packet/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a flood of 500 connections in 2 s to the host's port: the socket keeps serving, and the next job runs within 10 s", async () => {
    await checkConnectionFlood(h!);
  });

  it("idle connections a job opens to the host's port keep the next job out no longer than the grace time (20 s)", async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const max = await socketCounter(ph)('MaxConnections');
    // The job's own connection and, from inside it, idle ones to the host's port (the containers
    // share the host's network) up to the socket's limit: never a version string, never a key.
    const job = new HeldJob(
      ph.target,
      `for fd in $(seq 3 ${max + 1}); do eval "exec $fd<>/dev/tcp/127.0.0.1/${ph.port}"; done; echo opened; read -r _; echo "still here"`,
    );
    try {
      await job.waitFor(/^opened$/m);
      const t0 = performance.now();
      const since = () => (performance.now() - t0) / 1000;
      await waitFor('the socket to be full', async () => ((await socketCounter(ph)('NConnections')) === max ? true : undefined), 30_000);
      const full = await ssh(ph.target, 'echo in', { timeoutMs: 30_000 });
      expect(full.exitCode).toBe(255);
      // sshd cuts the idle connections off after LoginGraceTime; then a job gets in again.
      const seconds = await waitFor(
        'the next job to get in',
        async () => ((await ssh(ph.target, 'echo in', { timeoutMs: 30_000 })).exitCode === 0 ? since() : undefined),
        90_000,
        1000,
      );
      console.log(`[security] ${max - 1} idle connections from a job: the next job got in after ${seconds.toFixed(1)} s`);
      expect(seconds).toBeLessThan(20 + 10);
      // sshd closes every one of them (the job still holds its ends), so the job's own connection is
      // soon the only one left; read at once, the count could still hold a container being torn
      // down, or an idle one whose container started later under load.
      await waitFor('sshd to close every idle connection', async () => ((await socketCounter(ph)('NConnections')) === 1 ? true : undefined), 30_000);
      // Their units did not fail.
      expect((await ph.host.execOk(`journalctl -q -o cat -u '${NAME}@*' | grep -c 'Failed with result' || true`)).trim()).toBe('0');
      // The job that opened them goes on.
      job.send('go on');
      await job.waitFor(/^still here$/m);
    } finally {
      await job.end().catch(() => job.kill());
    }
    await waitNoContainers(ph);
  });

  it('a client gets 3 tries at a key: the right key offered fourth is never tried', async () => {
    const ph = h!;
    const wrong = [1, 2, 3].map((i) => path.join(work, `wrong-key-${i}`));
    for (const k of wrong) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'wrong@test', '-f', k]);
    // ssh offers the identities in the order given; IdentitiesOnly keeps any agent out of it.
    const offer = (keys: string[]) =>
      ssh({ ...ph.target, identity: keys[0]! }, 'echo in', { extra: ['-o', 'IdentitiesOnly=yes', ...keys.slice(1).flatMap((k) => ['-i', k])] });
    const twoWrong = await offer([wrong[0]!, wrong[1]!, ph.target.identity]);
    expect({ code: twoWrong.exitCode, out: twoWrong.stdout }).toEqual({ code: 0, out: 'in\n' });
    const threeWrong = await offer([...wrong, ph.target.identity]);
    expect({ code: threeWrong.exitCode, out: threeWrong.stdout }).toEqual({ code: 255, out: '' });
    expect(await ph.host.execOk(`journalctl --sync; journalctl -q -o cat -u '${NAME}@*' | grep -c 'Too many authentication failures' || true`)).not.toBe('0\n');
  });

  it('a job cannot fake a live container: a process it names systemd-nspawn with our machine and an image keeps nothing from gc', async () => {
    const ph = h!;
    await waitNoContainers(ph);
    // A second image, as install.sh leaves one (gc removes it itself, not apt).
    const images = `/usr/lib/${NAME}/images`;
    await ph.host.execOk(`cp -al ${images}/1.0.0 ${images}/0.9.0`);
    const forged = `${NAME}-7-777`;
    const job = new HeldJob(ph.target, `echo forging; exec -a systemd-nspawn bash -c 'read -r _' --machine=${forged} --directory=${images}/0.9.0`);
    // An admin's container (`shell`), registered with machined: it is one.
    const shell = 'eb-admin-shell';
    try {
      await job.waitFor(/^forging$/m);
      await waitFor('the forged process', async () => ((await ph.host.exec(`pgrep -f -- '--machin[e]=${forged}'`)).exitCode === 0 ? true : undefined), 10_000);
      expect((await ph.host.execOk(`pgrep -a -f -- '--machin[e]=${forged}'`)).trim()).toMatch(
        new RegExp(`^\\d+ systemd-nspawn -c read -r _ --machine=${forged} --directory=${images}/0\\.9\\.0$`),
      );
      // (pgrep's pattern has [e] so that it does not find its own shell.)
      await ph.host.execOk(`systemd-run --quiet --unit=${shell} ${CTL} shell sleep 120`);
      await waitFor("the admin's container", async () => ((await machines(ph)).some((m) => m.startsWith(`${NAME}-x-`)) ? true : undefined), 30_000);
      const status = await ph.host.execOk(`${CTL} status`);
      expect(status).toMatch(/^containers: 2$/m);
      expect(status).toMatch(new RegExp(`^  ${NAME}-\\d+-\\d+ +image 1\\.0\\.0 `, 'm'));
      expect(status).toMatch(new RegExp(`^  ${NAME}-x-\\d+ +image 1\\.0\\.0 `, 'm'));
      expect(status).not.toContain(forged);
      expect(await ph.host.execOk(`${CTL} list`)).toMatch(/^0\.9\.0\s+-\s+install\.sh$/m);
      const gc = await ph.host.execOk(`${CTL} gc --keep 0`);
      expect(gc).toContain('removing 0.9.0');
      expect(gc).not.toContain(forged);
      expect(await ph.host.exec(`test -e ${images}/0.9.0`)).toMatchObject({ exitCode: 1 });
    } finally {
      await ph.host.exec(`systemctl stop ${shell}; rm -rf ${images}/0.9.0`);
      job.kill();
    }
    await waitNoContainers(ph);
  });

  it("a container started from an admin's shell (shell, doctor) has a session keyring of its own, and the filter keeps keyrings out of reach", async () => {
    const ph = h!;
    const conf = `/etc/${NAME}/${NAME}.conf`;
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) on x86_64.
    const probe = `perl -e 'my $id = syscall(250, 0, -3, 0); print $id > 0 ? "keyring $id\\n" : "keyctl: $!\\n"'`;
    const caller = (await ph.host.execOk(probe)).trim();
    expect(caller).toMatch(/^keyring \d+$/);
    expect((await ph.host.execOk(`${CTL} shell ${probe}`)).trim()).toBe('keyctl: Operation not permitted');
    // Without nspawn's filter (an admin's choice), the keyring the container sees is not the caller's.
    await ph.host.execOk(`sed -i 's/^SYSCALL_FILTER=yes$/SYSCALL_FILTER=no/' ${conf}`);
    try {
      const inside = (await ph.host.execOk(`${CTL} shell ${probe}`)).trim();
      expect(inside).toMatch(/^keyring \d+$/);
      expect(inside).not.toBe(caller);
    } finally {
      await ph.host.execOk(`sed -i 's/^SYSCALL_FILTER=no$/SYSCALL_FILTER=yes/' ${conf}`);
    }
  });

  it('the socket listens on loopback only', async () => {
    const ph = h!;
    expect(await ph.host.execOk(`grep ^ListenStream= /usr/lib/systemd/system/${SOCKET}`)).toBe('ListenStream=127.0.0.1:24\n');
    const listeners = (await ph.host.execOk(`ss -Hltn 'sport = :${ph.port}'`))
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[3]);
    expect(listeners).toEqual([`127.0.0.1:${ph.port}`]);
    // This machine's other addresses (the host shares its network): nothing answers there.
    const addresses = Object.values(os.networkInterfaces())
      .flat()
      .filter((i) => i && !i.internal)
      .map((i) => i!.address);
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses) {
      const outcome = await new Promise<string>((resolve) => {
        const s = net.connect({ host: address, port: ph.port, timeout: 5000 });
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('timeout', () => {
          s.destroy();
          resolve('timeout');
        });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect({ address, outcome }).toEqual({ address, outcome: 'ECONNREFUSED' });
    }
  });

  it("the container cannot see the host's processes", async () => {
    const ph = h!;
    const hostSide = await ph.host.execOk('ps -e -o comm=');
    for (const p of ['systemd-journal', 'dbus-daemon', 'systemd-machine']) expect(hostSide).toContain(p);
    const inside = await sshOk(ph.target, 'ls /proc | grep -cE "^[0-9]+$"; ps -e -o pid=,comm=');
    const [count, ...procs] = inside.trim().split('\n');
    expect(Number(count)).toBeLessThan(15);
    const names = procs.map((l) => l.trim().split(/\s+/)[1]);
    for (const p of ['systemd', 'systemd-journal', 'dbus-daemon', 'systemd-machine', 'systemd-logind', 'systemd-nspawn']) expect(names).not.toContain(p);
    expect(names).toContain('sshd-session');
    expect(procs[0]!.trim()).toMatch(/^1 /);
  });

  it("a job can signal no host process: the only PIDs it can name are its own container's, and its init refuses it", async () => {
    const ph = h!;
    // kill -0 on every PID the kernel could give (pid_max): only the container's processes answer,
    // those ps showed a moment before, and perl itself.
    const out = await sshOk(
      ph.target,
      `max=$(cat /proc/sys/kernel/pid_max); ps -e -o pid= | sort -n | tr -s ' \\n' ' '; echo
perl -e 'for (1 .. $ARGV[0]) { print "$_ " if kill 0, $_ } print "\\n"; print kill("TERM", 1) ? "killed 1\\n" : "kill 1: $!\\n"' "$max"`,
      { timeoutMs: 120_000 },
    );
    const [listed, answered, init] = out.split('\n');
    const ps = listed!.trim().split(' ').map(Number);
    // ps itself and its shell are gone by the time perl asks; perl is new.
    const alive = answered!.trim().split(' ').map(Number);
    expect(alive.length).toBeGreaterThan(0);
    expect(alive.length).toBeLessThan(15);
    expect(alive.filter((p) => p !== Math.max(...alive)).every((p) => ps.includes(p))).toBe(true);
    expect(init).toBe('kill 1: Operation not permitted');
  });

  it("two concurrent jobs cannot see each other's files", async () => {
    const ph = h!;
    await waitNoContainers(ph);
    const job = (me: string) =>
      new HeldJob(
        ph.target,
        `for d in ~ /tmp /var/tmp /dev/shm; do echo "token-${me}" > "$d/secret-${me}" || exit 1; done
echo written; read -r _
for d in /home /tmp /var/tmp /dev/shm /run; do find "$d" -name 'secret-*' 2>/dev/null; done
grep -rls "token-" /home /tmp /var/tmp /dev/shm 2>/dev/null || true
ls -A /home; echo "processes=$(ps -e -o user= | grep -c ${USER})"; echo end`,
      );
    const a = job('A');
    const b = job('B');
    try {
      await Promise.all([a.waitFor(/^written$/m), b.waitFor(/^written$/m)]);
      a.send('look');
      b.send('look');
      await Promise.all([a.waitFor(/^end$/m), b.waitFor(/^end$/m)]);
      for (const [me, other, j] of [
        ['A', 'B', a],
        ['B', 'A', b],
      ] as const) {
        const seen = j.stdout.split('written\n')[1]!;
        expect(seen, `job ${me}`).not.toContain(`secret-${other}`);
        for (const d of [`/home/${USER}`, '/tmp', '/var/tmp', '/dev/shm']) expect(seen, `job ${me}`).toContain(`${d}/secret-${me}\n`);
        expect(seen).toContain(`${USER}\n${USER}.template\n`);
      }
    } finally {
      await Promise.allSettled([a.end(), b.end()]);
      a.kill();
      b.kill();
    }
  });
});
