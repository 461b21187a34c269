// install.sh against a scratch root (--root), with release tarballs
// made by GNU tar | zstd in the pack stage's layout, and hostile ones made by tar-stream, each
// with a signed SHA256SUMS. Checks that nothing is touched before the archive is verified (the
// signature of SHA256SUMS by the key --fingerprint names, then the checksum, then the archive),
// that an install interrupted midway leaves the previous version as it was, that the layout
// matches what the packages install, and that switching `current` is atomic.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeTrackedKeys, signChecksums, testReleaseKey, trackedSigningKey } from '../e2e/harness/gpg-key.ts';
import { describeWith } from '../helpers/env.ts';
import {
  craftTarball,
  currentOf,
  installSh,
  makeRelease,
  newHostRoot,
  snapshotTree,
  tempDir,
  testRecipe,
  writeFakeImage,
  writeSums,
  type Release,
} from './host-fixture.ts';

const NAME = 'ebtest';
const v1 = testRecipe({ name: NAME, version: '1.0.0', ssh: { port: 2424 }, limits: { maxConnections: 6 } });
const v2 = testRecipe({ name: NAME, version: '1.1.0', ssh: { port: 2424 }, limits: { maxConnections: 6, homeSize: '2G' } });
const cleanup: string[] = [];
afterAll(async () => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  await disposeTrackedKeys();
});

function root(): string {
  const r = newHostRoot();
  cleanup.push(r);
  return r;
}

describeWith({ root: true, tools: ['tar', 'zstd', 'sha256sum', 'ssh-keygen', 'systemctl', 'dpkg-query'] }, 'install.sh', () => {
  let rel1: Release;
  let rel2: Release;
  beforeAll(async () => {
    rel1 = await makeRelease(v1);
    rel2 = await makeRelease(v2, { dropFiles: [`usr/share/man/man8/${NAME}ctl.8.gz`] });
    cleanup.push(rel1.dir, rel2.dir);
  });

  describe('install', () => {
    it('lays the host out as the packages do: files, units, keys, known_hosts, current, enablement', async () => {
      const r = root();
      const res = await installSh(rel1, r, ['install', rel1.tarball]);
      expect(res.exitCode, res.all).toBe(0);
      for (const f of rel1.rendered.files) {
        const onHost = path.join(r, f.path);
        expect(fs.readFileSync(onHost)).toEqual(Buffer.from(f.content));
        expect((fs.statSync(onHost).mode & 0o7777).toString(8), f.path).toBe(f.mode.toString(8));
      }
      expect(currentOf(r, NAME)).toBe(`../../../usr/lib/${NAME}/images/1.0.0`);
      expect(fs.readFileSync(path.join(r, `var/lib/${NAME}/current/etc/release-marker`), 'utf8')).toBe('image 1.0.0');
      for (const type of ['ecdsa', 'rsa', 'ed25519']) {
        const key = path.join(r, `etc/${NAME}/ssh/ssh_host_${type}_key`);
        expect(fs.statSync(key).mode & 0o777).toBe(0o600);
        expect(fs.readFileSync(key, 'utf8')).toContain('PRIVATE KEY');
        expect(fs.statSync(`${key}.pub`).mode & 0o777).toBe(0o644);
      }
      expect(fs.statSync(path.join(r, `etc/${NAME}/runner/id_ed25519`)).mode & 0o777).toBe(0o600);
      const runnerPub = fs.readFileSync(path.join(r, `etc/${NAME}/runner/id_ed25519.pub`), 'utf8').trim();
      expect(fs.readFileSync(path.join(r, `etc/${NAME}/ssh/authorized_keys`), 'utf8')).toContain(`restrict ${runnerPub}`);
      const known = fs
        .readFileSync(path.join(r, `etc/${NAME}/runner/known_hosts`), 'utf8')
        .trim()
        .split('\n');
      expect(known.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
        '[127.0.0.1]:2424 ecdsa-sha2-nistp256',
        '[127.0.0.1]:2424 ssh-rsa',
        '[127.0.0.1]:2424 ssh-ed25519',
      ]);
      const wants = path.join(r, `etc/systemd/system/sockets.target.wants/${NAME}.socket`);
      expect(fs.readlinkSync(wants)).toBe(`/usr/lib/systemd/system/${NAME}.socket`);
      expect(fs.readFileSync(path.join(r, `var/lib/${NAME}/installed-by`), 'utf8')).toBe('install.sh\n');
      // No staging, listing or lock left behind.
      expect(fs.readdirSync(path.join(r, `usr/lib/${NAME}`)).sort()).toEqual(['images', 'private-network', 'private-network.nft', 'spawn', 'syscall-filter']);
      expect(fs.existsSync(path.join(r, `var/lib/${NAME}/lock`))).toBe(false);
    });

    it('is idempotent: a second install changes nothing, keys included', async () => {
      const r = root();
      expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
      const before = snapshotTree(r);
      const res = await installSh(rel1, r, ['install', rel1.tarball]);
      expect(res.exitCode, res.all).toBe(0);
      expect(res.all).toContain('image 1.0.0 is already installed');
      expect(snapshotTree(r)).toEqual(before);
    });

    it('reads the tarball once: from a named pipe, which gives its bytes to one reader only', async () => {
      const dir = tempDir('eb-fifo');
      cleanup.push(dir);
      for (const f of fs.readdirSync(rel2.dir)) if (!f.endsWith('.tar.zst')) fs.copyFileSync(path.join(rel2.dir, f), path.join(dir, f));
      const fifo = path.join(dir, path.basename(rel2.tarball));
      await execa('mkfifo', [fifo]);
      const writer = execa('sh', ['-c', 'cat "$1" >"$2"', 'sh', rel2.tarball, fifo], { reject: false });
      try {
        const r = root();
        const res = await execa('sh', [path.join(dir, 'install.sh'), '--root', r, '--fingerprint', (await testReleaseKey()).fingerprint, 'install', fifo], {
          reject: false,
          all: true,
          timeout: 60_000,
        });
        expect(res.exitCode, res.all).toBe(0);
        expect(currentOf(r, NAME)).toMatch(/\/1\.1\.0$/);
      } finally {
        writer.kill('SIGKILL');
        await writer;
      }
    });

    it('--dry-run verifies and lists, and changes nothing', async () => {
      const r = root();
      const before = snapshotTree(r);
      const res = await installSh(rel1, r, ['--dry-run', 'install', rel1.tarball]);
      expect(res.exitCode, res.all).toBe(0);
      expect(res.all).toContain(`/usr/sbin/${NAME}ctl`);
      expect(res.all).toContain('would switch current to 1.0.0');
      expect(snapshotTree(r)).toEqual(before);
    });
  });

  describe('refuses, leaving the host exactly as it was', () => {
    async function expectRefused(release: Release, tarball: string, message: RegExp, trust?: string[]) {
      const r = root();
      expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
      const before = snapshotTree(r);
      const res = await installSh(release, r, ['install', tarball], { trust });
      expect(res.exitCode).not.toBe(0);
      expect(res.all).toMatch(message);
      expect(snapshotTree(r)).toEqual(before);
      // And on a fresh host, not even a directory appears.
      const fresh = root();
      const freshBefore = snapshotTree(fresh);
      expect((await installSh(release, fresh, ['install', tarball], { trust })).exitCode).not.toBe(0);
      expect(snapshotTree(fresh)).toEqual(freshBefore);
    }

    /** A copy of release 1.1.0 to tamper with. */
    function copyOfRel2(label: string): Release {
      const dir = tempDir(label);
      cleanup.push(dir);
      fs.cpSync(rel2.dir, dir, { recursive: true });
      return { ...rel2, dir, tarball: path.join(dir, path.basename(rel2.tarball)), installSh: path.join(dir, 'install.sh') };
    }

    async function craftedRelease(entries: Parameters<typeof craftTarball>[1], version = '1.1.0'): Promise<[Release, string]> {
      const dir = tempDir('eb-crafted');
      cleanup.push(dir);
      const tarball = path.join(dir, `${NAME}-${version}-amd64.tar.zst`);
      await craftTarball(tarball, entries);
      fs.copyFileSync(rel2.installSh, path.join(dir, 'install.sh'));
      await writeSums(dir);
      return [{ ...rel2, dir, tarball, installSh: path.join(dir, 'install.sh') }, tarball];
    }

    const image = (rest: string) => `./usr/lib/${NAME}/images/1.1.0/${rest}`;

    it('a tampered tarball, with the signed SHA256SUMS intact', async () => {
      const rel = copyOfRel2('eb-tampered-tarball');
      const bytes = fs.readFileSync(rel.tarball);
      bytes[bytes.length - 100]! ^= 0x01;
      fs.writeFileSync(rel.tarball, bytes);
      await expectRefused(rel, rel.tarball, /does not match SHA256SUMS \(got [0-9a-f]{64}, want [0-9a-f]{64}\)/);
    });

    it('a tampered SHA256SUMS: its signature no longer verifies', async () => {
      const rel = copyOfRel2('eb-tampered-sums');
      // SHA256SUMS made to match a changed tarball, as an attacker who changed both would.
      fs.appendFileSync(rel.tarball, 'x');
      const sums = fs.readFileSync(path.join(rel.dir, 'SHA256SUMS'), 'utf8');
      const have = (await execa('sha256sum', [rel.tarball])).stdout.split(' ')[0]!;
      fs.writeFileSync(path.join(rel.dir, 'SHA256SUMS'), sums.replace(/^[0-9a-f]{64}(?= {2}\S+\.tar\.zst$)/m, have));
      await expectRefused(
        rel,
        rel.tarball,
        /SHA256SUMS in .* carries no good signature by [0-9A-F]{40} \(.*BAD signature.*\): the files may have been changed after the release; nothing was changed/,
      );
    });

    it('a release signed by a key other than the one --fingerprint names, with that key in the keyring', async () => {
      const rel = copyOfRel2('eb-other-key');
      const other = await trackedSigningKey('someone else <other@example.invalid>');
      await signChecksums(rel.dir, NAME, other);
      await expectRefused(
        rel,
        rel.tarball,
        new RegExp(`is signed by ${other.fingerprint}, not by the key --fingerprint names \\(${(await testReleaseKey()).fingerprint}\\)`),
      );
      // Trusting that key instead (as an admin who got its fingerprint would) installs it.
      const res = await installSh(rel, root(), ['install', rel.tarball], { trust: ['--fingerprint', other.fingerprint.replace(/(.{4})/g, '$1 ')] });
      expect(res.exitCode, res.all).toBe(0);
      expect(res.all).toContain(`SHA256SUMS is signed by ${other.fingerprint}`);
    });

    it('a release signed by a key that has expired', async () => {
      const rel = copyOfRel2('eb-expired-key');
      const past = ['--faked-system-time', '20200101T000000'];
      const old = await trackedSigningKey('expired <expired@example.invalid>', '1y', past);
      await signChecksums(rel.dir, NAME, old, past);
      await expectRefused(rel, rel.tarball, /carries no good signature by/, ['--fingerprint', old.fingerprint]);
    });

    it('an unsigned release (no SHA256SUMS.asc), and any release without --fingerprint; --insecure installs it, saying so', async () => {
      const rel = copyOfRel2('eb-unsigned');
      fs.rmSync(path.join(rel.dir, 'SHA256SUMS.asc'));
      await expectRefused(rel, rel.tarball, /SHA256SUMS\.asc is missing: the release is not signed.*--insecure/);
      await expectRefused(rel2, rel2.tarball, /pass --fingerprint FINGERPRINT, the fingerprint of the key that signs ebtest releases/, []);
      const res = await installSh(rel, root(), ['install', rel.tarball], { trust: ['--insecure'] });
      expect(res.exitCode, res.all).toBe(0);
      expect(res.all).toMatch(/warning: --insecure: the signature of SHA256SUMS is not checked/);
    });

    it('a --fingerprint that is not one', async () => {
      await expectRefused(rel2, rel2.tarball, /--fingerprint 'C0FFEE' is not a key fingerprint/, ['--fingerprint', 'C0FFEE']);
    });

    it('a tarball SHA256SUMS does not list', async () => {
      const rel = copyOfRel2('eb-nosum');
      fs.writeFileSync(path.join(rel.dir, 'SHA256SUMS'), '');
      await signChecksums(rel.dir, NAME);
      await expectRefused(rel, rel.tarball, /does not list/);
    });

    it('a member path with ..', async () => {
      const [rel, tarball] = await craftedRelease([
        { name: image('etc/release-marker'), content: 'x' },
        { name: `./usr/lib/${NAME}/images/1.1.0/../../../../../etc/evil`, content: 'pwned' },
      ]);
      await expectRefused(rel, tarball, /path with \.\./);
    });

    it('an absolute member path', async () => {
      const [rel, tarball] = await craftedRelease([
        { name: image('etc/release-marker'), content: 'x' },
        { name: '/etc/cron.d/evil', content: 'pwned' },
      ]);
      await expectRefused(rel, tarball, /absolute path/);
    });

    it('a member outside what the packages ship', async () => {
      const [rel, tarball] = await craftedRelease([
        { name: image('etc/release-marker'), content: 'x' },
        { name: './etc/cron.d/evil', content: 'pwned' },
      ]);
      await expectRefused(rel, tarball, /not a file of ebtest/);
    });

    it('a member written through a symlink that points out of the archive', async () => {
      const outside = tempDir('eb-outside');
      cleanup.push(outside);
      const [rel, tarball] = await craftedRelease([
        { name: image('usr/lib/ephemeral-builder/container-init'), content: '#!/bin/sh\n', mode: 0o755 },
        { name: image('usr/sbin/sshd'), content: '' },
        { name: image('escape'), type: 'symlink', linkname: outside },
        { name: image('escape/pwned'), content: 'pwned' },
      ]);
      await expectRefused(rel, tarball, /extracting .* failed; nothing was changed/);
      expect(fs.readdirSync(outside)).toEqual([]);
    });

    it('a truncated tarball (even with a SHA256SUMS made for it)', async () => {
      const dir = tempDir('eb-truncated');
      cleanup.push(dir);
      const tarball = path.join(dir, path.basename(rel2.tarball));
      const bytes = fs.readFileSync(rel2.tarball);
      fs.writeFileSync(tarball, bytes.subarray(0, Math.floor(bytes.length / 2)));
      fs.copyFileSync(rel2.installSh, path.join(dir, 'install.sh'));
      await writeSums(dir);
      await expectRefused({ ...rel2, dir, tarball, installSh: path.join(dir, 'install.sh') }, tarball, /truncated or damaged/);
    });

    it('a tar archive cut inside a member, in a zstd stream that is itself complete', async () => {
      const dir = tempDir('eb-cut');
      cleanup.push(dir);
      const tarball = path.join(dir, path.basename(rel2.tarball));
      // Cut in the middle of the last regular file's data, then recompress: zstd -t passes, only
      // reading the tar archive finds the damage.
      const { stdout } = await execa('zstd', ['-dc', rel2.tarball], { encoding: 'buffer', stripFinalNewline: false });
      const tar = Buffer.from(stdout);
      let cut = 0;
      for (let off = 0; off + 512 <= tar.length && tar[off] !== 0; ) {
        const size = parseInt(
          tar
            .subarray(off + 124, off + 136)
            .toString('latin1')
            .replace(/\0.*$/, '')
            .trim() || '0',
          8,
        );
        const type = String.fromCharCode(tar[off + 156]!);
        if ((type === '0' || type === '\0') && size > 64) cut = off + 512 + Math.floor(size / 2);
        off += 512 + Math.ceil(size / 512) * 512;
      }
      expect(cut).toBeGreaterThan(0);
      await execa('zstd', ['-q', '-o', tarball, '-'], { input: tar.subarray(0, cut) });
      fs.copyFileSync(rel2.installSh, path.join(dir, 'install.sh'));
      await writeSums(dir);
      await expectRefused({ ...rel2, dir, tarball, installSh: path.join(dir, 'install.sh') }, tarball, /truncated or damaged/);
    });

    it('a tarball for another architecture, on install and on upgrade, naming both architectures', async () => {
      // The pack stage names the tarball after its architecture, and SHA256SUMS signs that name.
      const arm64 = await makeRelease(v2, { architecture: 'arm64' });
      cleanup.push(arm64.dir);
      const refusal =
        /error: ebtest-1\.1\.0-arm64\.tar\.zst is for arm64, but this host is amd64: download ebtest-VERSION-amd64\.tar\.zst instead; nothing was changed/;
      await expectRefused(arm64, arm64.tarball, refusal);
      const r = root();
      expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
      const before = snapshotTree(r);
      const res = await installSh(arm64, r, ['upgrade', arm64.tarball]);
      expect(res.exitCode).not.toBe(0);
      expect(res.all).toMatch(refusal);
      expect(snapshotTree(r)).toEqual(before);
      // Without dpkg (a PATH with uname alone), the kernel's machine name says the same.
      const bin = tempDir('eb-uname-only');
      cleanup.push(bin);
      fs.symlinkSync((await execa('sh', ['-c', 'command -v uname'])).stdout, path.join(bin, 'uname'));
      const noDpkg = await execa('/bin/sh', [arm64.installSh, '--root', r, '--insecure', 'upgrade', arm64.tarball], {
        reject: false,
        all: true,
        env: { PATH: bin },
      });
      expect(noDpkg.exitCode).not.toBe(0);
      expect(noDpkg.all).toMatch(refusal);
      expect(snapshotTree(r)).toEqual(before);
      // A tarball whose name does not say its architecture is not guessed at.
      const renamed = copyOfRel2('eb-renamed');
      fs.renameSync(renamed.tarball, path.join(renamed.dir, 'ebtest-latest.tar.zst'));
      await expectRefused(
        renamed,
        path.join(renamed.dir, 'ebtest-latest.tar.zst'),
        /ebtest-latest\.tar\.zst is not named ebtest-VERSION-ARCHITECTURE\.tar\.zst, so its architecture is unknown/,
      );
    });

    it('a host that dpkg manages', async () => {
      const r = root();
      fs.mkdirSync(path.join(r, 'var/lib/dpkg/info'), { recursive: true });
      fs.writeFileSync(
        path.join(r, 'var/lib/dpkg/status'),
        `Package: ${NAME}\nStatus: install ok installed\nVersion: 1.0.0\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: x\n\n`,
      );
      const before = snapshotTree(r);
      for (const args of [['install', rel1.tarball], ['uninstall']]) {
        const res = await installSh(rel1, r, args);
        expect(res.exitCode).not.toBe(0);
        expect(res.all).toContain('installed with dpkg/apt');
      }
      expect(snapshotTree(r)).toEqual(before);
    });
  });

  describe('interrupted midway, the previous version stays as it was', () => {
    let bulky: Release;
    beforeAll(async () => {
      // 96 MiB that does not compress: unpacking takes long enough to be interrupted in.
      const image = tempDir('eb-bulky-image');
      cleanup.push(image);
      writeFakeImage(image, v2.user.name, 'image 1.1.0');
      fs.mkdirSync(path.join(image, 'usr/share/bulk'), { recursive: true });
      for (let i = 0; i < 96; i++) fs.writeFileSync(path.join(image, 'usr/share/bulk', String(i)), randomBytes(1 << 20));
      bulky = await makeRelease(v2, { image });
      cleanup.push(bulky.dir);
    });

    /** The command lines of the processes in a process group. */
    function groupCommands(pgid: number): string[] {
      const out: string[] = [];
      for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          if (
            Number(
              fs
                .readFileSync(`/proc/${pid}/stat`, 'utf8')
                .replace(/^.*\) /s, '')
                .split(' ')[2],
            ) === pgid
          ) {
            out.push(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
          }
        } catch {
          // gone meanwhile
        }
      }
      return out;
    }

    /**
     * Installs 1.0.0, then starts the upgrade to the bulky 1.1.0 and signals its process group
     * while tar unpacks it: the group is stopped first and tar seen still running, so the signal
     * lands before the switch, every time.
     */
    async function interruptWhileUnpacking(signal: 'SIGINT' | 'SIGKILL') {
      const r = root();
      expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
      const before = snapshotTree(r);
      const fpr = (await testReleaseKey()).fingerprint;
      // Its own process group, as a shell gives a command, so that the signal reaches tar too (Ctrl-C does).
      const proc = execa('sh', [bulky.installSh, '--root', r, '--fingerprint', fpr, 'upgrade', bulky.tarball], { reject: false, all: true, detached: true });
      const pgid = proc.pid!;
      const unpacking = () => groupCommands(pgid).some((c) => c.startsWith('tar --zstd -xpf '));
      for (const end = Date.now() + 60_000; !unpacking() && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 5));
      process.kill(-pgid, 'SIGSTOP');
      try {
        expect(unpacking(), 'tar is unpacking, stopped').toBe(true);
        process.kill(-pgid, signal);
      } finally {
        try {
          process.kill(-pgid, 'SIGCONT');
        } catch {
          // every process of the group is gone (SIGKILL)
        }
      }
      return { r, before, res: await proc };
    }

    it('Ctrl-C (SIGINT) while it unpacks: exit 130, and the host exactly as before', async () => {
      const { r, before, res } = await interruptWhileUnpacking('SIGINT');
      expect(res.exitCode, res.all).toBe(130);
      expect(snapshotTree(r)).toEqual(before);
      expect(currentOf(r, NAME)).toMatch(/\/1\.0\.0$/);
    });

    it('SIGKILL while it unpacks: the previous version current and complete; the next install clears what was left', async () => {
      const { r, before, res } = await interruptWhileUnpacking('SIGKILL');
      expect(res.signal).toBe('SIGKILL');
      const after = snapshotTree(r);
      for (const [file, state] of before) expect(after.get(file), file).toBe(state);
      // Left: the staging directory and the lock of the killed process, nothing else.
      const left = [...after.keys()].filter((f) => !before.has(f));
      expect(left.filter((f) => !f.startsWith(`usr/lib/${NAME}/.staging.`) && f !== `var/lib/${NAME}/lock`)).toEqual([]);
      const again = await installSh(bulky, r, ['upgrade', bulky.tarball]);
      expect(again.exitCode, again.all).toBe(0);
      expect(currentOf(r, NAME)).toMatch(/\/1\.1\.0$/);
      expect(fs.readdirSync(path.join(r, 'usr/lib', NAME)).filter((f) => f.startsWith('.'))).toEqual([]);
    });
  });

  describe('upgrade, use, rollback, uninstall', () => {
    it('upgrade installs the new image beside the old, switches to it and records the previous one', async () => {
      const r = root();
      expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
      const keyBefore = fs.readFileSync(path.join(r, `etc/${NAME}/ssh/ssh_host_ecdsa_key`));
      const res = await installSh(rel2, r, ['upgrade', rel2.tarball]);
      expect(res.exitCode, res.all).toBe(0);
      expect(currentOf(r, NAME)).toBe(`../../../usr/lib/${NAME}/images/1.1.0`);
      expect(fs.readlinkSync(path.join(r, `var/lib/${NAME}/previous`))).toBe(`../../../usr/lib/${NAME}/images/1.0.0`);
      expect(fs.existsSync(path.join(r, `usr/lib/${NAME}/images/1.0.0/etc/release-marker`))).toBe(true);
      // Keys are made once; the unchanged config is replaced; a file 1.1.0 no longer ships goes.
      expect(fs.readFileSync(path.join(r, `etc/${NAME}/ssh/ssh_host_ecdsa_key`))).toEqual(keyBefore);
      expect(fs.readFileSync(path.join(r, `etc/${NAME}/${NAME}.conf`), 'utf8')).toMatch(/^HOME_SIZE=2G$/m);
      expect(fs.existsSync(path.join(r, `usr/share/man/man8/${NAME}ctl.8.gz`))).toBe(false);
      const status = await installSh(rel2, r, ['status']);
      expect(status.all).toContain('current:      1.1.0');
      expect(status.all).toContain('previous:     1.0.0');
    });

    it('keeps a config the admin changed, and leaves the new default next to it', async () => {
      const r = root();
      expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
      const conf = path.join(r, `etc/${NAME}/${NAME}.conf`);
      fs.appendFileSync(conf, 'NPROC=77\n');
      const mine = fs.readFileSync(conf, 'utf8');
      const res = await installSh(rel2, r, ['upgrade', rel2.tarball]);
      expect(res.exitCode, res.all).toBe(0);
      expect(res.all).toContain('keeping your changed');
      expect(fs.readFileSync(conf, 'utf8')).toBe(mine);
      expect(fs.readFileSync(`${conf}.install-new`, 'utf8')).toMatch(/^HOME_SIZE=2G$/m);
    });

    it('upgrade refuses a host install.sh did not set up', async () => {
      const res = await installSh(rel2, root(), ['upgrade', rel2.tarball]);
      expect(res.exitCode).not.toBe(0);
      expect(res.all).toContain('nothing to upgrade');
    });

    it('use and rollback switch current; an unknown version changes nothing', async () => {
      const r = root();
      await installSh(rel1, r, ['install', rel1.tarball]);
      await installSh(rel2, r, ['upgrade', rel2.tarball]);
      expect((await installSh(rel2, r, ['use', '1.0.0'])).exitCode).toBe(0);
      expect(currentOf(r, NAME)).toMatch(/\/1\.0\.0$/);
      expect((await installSh(rel2, r, ['rollback'])).exitCode).toBe(0);
      expect(currentOf(r, NAME)).toMatch(/\/1\.1\.0$/);
      const before = snapshotTree(r);
      const bad = await installSh(rel2, r, ['use', '9.9.9']);
      expect(bad.exitCode).not.toBe(0);
      expect(bad.all).toContain('image 9.9.9 is not installed');
      expect(snapshotTree(r)).toEqual(before);
    });

    it('uninstall leaves the host as it was before the first install', async () => {
      const r = root();
      const pristine = snapshotTree(r);
      await installSh(rel1, r, ['install', rel1.tarball]);
      await installSh(rel2, r, ['upgrade', rel2.tarball]);
      const res = await installSh(rel2, r, ['uninstall']);
      expect(res.exitCode, res.all).toBe(0);
      expect(snapshotTree(r)).toEqual(pristine);
      const again = await installSh(rel2, r, ['uninstall']);
      expect(again.exitCode).toBe(0);
      expect(again.all).toContain('not installed');
    });
  });
});
