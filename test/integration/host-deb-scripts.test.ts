// The maintainer scripts under real dpkg, against a scratch root (dpkg --root with
// --force-script-chrootless, so the scripts run with DPKG_ROOT set, as on a chrootless install):
// the packages and install.sh lay out the same host, each refuses the other's host, an upgrade
// switches `current` and keeps the keys, an image in use cannot be removed, removing the current
// image moves `current` to one that is left, and purge leaves nothing. dpkg killed (SIGKILL to its
// whole process group) while unpacking an upgrade and while configuring it: `current` points at a
// complete image throughout, and `dpkg --configure -a` (then the install again) recovers.
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeTrackedKeys } from '../e2e/harness/gpg-key.ts';
import { describeWith } from '../helpers/env.ts';
import {
  buildTestDebs,
  ctl,
  dpkg,
  dpkgArgs,
  fakeContainer,
  initDpkgRoot,
  installSh,
  makeRelease,
  newHostRoot,
  snapshotTree,
  tempDir,
  testRecipe,
  type Release,
  type TestDebs,
} from './host-fixture.ts';

const NAME = 'ebdeb';
const v1 = testRecipe({ name: NAME, version: '1.0.0' });
const v2 = testRecipe({ name: NAME, version: '1.1.0', limits: { homeSize: '2G' } });
const cleanup: string[] = [];
afterAll(async () => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  await disposeTrackedKeys();
});

function hostRoot(): string {
  const r = newHostRoot();
  initDpkgRoot(r);
  cleanup.push(r);
  return r;
}

/** What a host looks like to an admin: package-manager bookkeeping, docs and key bytes left out. */
function layout(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, v] of snapshotTree(root)) {
    if (/^(var\/lib\/dpkg|var\/lib\/systemd|usr\/share\/doc)(\/|$)/.test(p)) continue;
    if (p === `var/lib/${NAME}/install.sh.files` || p === `var/lib/${NAME}/conffiles`) continue;
    // Keys are made per host, and installed-by says who made the host: compare kind and mode only.
    const perHost = p.startsWith(`etc/${NAME}/ssh/`) || p.startsWith(`etc/${NAME}/runner/`) || p === `var/lib/${NAME}/installed-by`;
    out.set(p, perHost ? v.split(' ').slice(0, 3).join(' ') : v);
  }
  return out;
}

/** dpkg's status of PKG below ROOT in its abbreviated form: "ii" installed, "iHR" half-installed (reinstall required), "iF" half-configured. */
async function dpkgStatus(root: string, pkg: string): Promise<string> {
  const res = await execa('dpkg-query', [`--admindir=${path.join(root, 'var/lib/dpkg')}`, '-W', '-f', '${db:Status-Abbrev}', pkg]);
  return res.stdout.trim();
}

/** Every file of an image (path, size and content hash): a complete image is equal to its .deb's. */
function imageFiles(root: string, version: string): Map<string, string> {
  return snapshotTree(path.join(root, 'usr/lib', NAME, 'images', version));
}

/**
 * dpkg (as dpkg() runs it) in a process group of its own, killed with SIGKILL, group and all,
 * once `killWhen` holds: a crash or power cut, no cleanup by dpkg or its maintainer scripts.
 */
async function dpkgKilled(root: string, args: string[], killWhen: () => boolean, env: Record<string, string> = {}) {
  const proc = execa('dpkg', dpkgArgs(root, args), { reject: false, all: true, detached: true, env });
  let exited = false;
  void proc.finally(() => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  while (!killWhen() && !exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  if (!exited) process.kill(-proc.pid!, 'SIGKILL');
  const res = await proc;
  expect(res.signal, `dpkg was not killed in time:\n${res.all}`).toBe('SIGKILL');
}

function current(root: string): string | undefined {
  try {
    return path.basename(fs.readlinkSync(path.join(root, 'var/lib', NAME, 'current')));
  } catch {
    return undefined;
  }
}

describeWith(
  { root: true, tools: ['dpkg', 'dpkg-deb', 'deb-systemd-helper', 'tar', 'zstd', 'ssh-keygen', 'systemctl'] },
  'maintainer scripts under dpkg',
  () => {
    let debs1: TestDebs;
    let debs2: TestDebs;
    let rel1: Release;
    let bin: string;
    beforeAll(async () => {
      const out = tempDir('eb-debs');
      cleanup.push(out);
      debs1 = await buildTestDebs(v1, out);
      debs2 = await buildTestDebs(v2, out);
      rel1 = await makeRelease(v1);
      cleanup.push(rel1.dir);
      bin = tempDir('eb-bin');
      cleanup.push(bin);
    });

    it('the packages lay out the same host as install.sh: files, units, enablement, current, keys', async () => {
      const viaDpkg = hostRoot();
      const res = await dpkg(viaDpkg, ['-i', debs1.image, debs1.host]);
      expect(res.exitCode, res.all).toBe(0);
      const viaInstallSh = hostRoot();
      expect((await installSh(rel1, viaInstallSh, ['install', rel1.tarball])).exitCode).toBe(0);
      const a = layout(viaDpkg);
      expect(a.get(`var/lib/${NAME}/current`)).toBe(`link ../../../usr/lib/${NAME}/images/1.0.0`);
      expect(a.get(`etc/systemd/system/sockets.target.wants/${NAME}.socket`)).toBe(`link /usr/lib/systemd/system/${NAME}.socket`);
      expect(a.get(`etc/${NAME}/ssh/ssh_host_ecdsa_key`)).toBe('file 600 0:0');
      expect(fs.readFileSync(path.join(viaDpkg, `var/lib/${NAME}/installed-by`), 'utf8')).toBe('dpkg\n');
      expect(a).toEqual(layout(viaInstallSh));
    });

    it('the packages refuse a host install.sh set up, and leave it as it was', async () => {
      const r = hostRoot();
      expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
      const before = layout(r);
      const res = await dpkg(r, ['-i', debs1.image, debs1.host]);
      expect(res.exitCode).not.toBe(0);
      expect(res.all).toContain('this host was set up with install.sh');
      expect(layout(r)).toEqual(before);
    });

    it('install.sh refuses a host dpkg set up', async () => {
      const r = hostRoot();
      expect((await dpkg(r, ['-i', debs1.image, debs1.host])).exitCode).toBe(0);
      const before = layout(r);
      const res = await installSh(rel1, r, ['install', rel1.tarball]);
      expect(res.exitCode).not.toBe(0);
      expect(res.all).toContain('installed with dpkg/apt');
      expect(layout(r)).toEqual(before);
    });

    describe('one host through its life', () => {
      let r: string;
      beforeAll(() => {
        r = hostRoot();
      });

      it('installs 1.0.0', async () => {
        const res = await dpkg(r, ['-i', debs1.image, debs1.host]);
        expect(res.exitCode, res.all).toBe(0);
        expect(current(r)).toBe('1.0.0');
      });

      it('upgrades to 1.1.0: current switches, previous is recorded, keys and enablement stay', async () => {
        const key = fs.readFileSync(path.join(r, `etc/${NAME}/ssh/ssh_host_rsa_key`));
        const res = await dpkg(r, ['-i', debs2.image, debs2.host]);
        expect(res.exitCode, res.all).toBe(0);
        expect(current(r)).toBe('1.1.0');
        expect(path.basename(fs.readlinkSync(path.join(r, `var/lib/${NAME}/previous`)))).toBe('1.0.0');
        expect(fs.readFileSync(path.join(r, `etc/${NAME}/ssh/ssh_host_rsa_key`))).toEqual(key);
        expect(fs.readFileSync(path.join(r, `etc/${NAME}/${NAME}.conf`), 'utf8')).toMatch(/^HOME_SIZE=2G$/m);
        // (The link points at /usr/lib/systemd/system of the scratch root, so read it, do not follow it.)
        expect(fs.readlinkSync(path.join(r, `etc/systemd/system/sockets.target.wants/${NAME}.socket`))).toBe(`/usr/lib/systemd/system/${NAME}.socket`);
      });

      it('the host tool names the packages, and gc leaves dpkg-owned images to apt', async () => {
        const list = await ctl(r, NAME, ['list']);
        expect(list.stdout).toMatch(new RegExp(`^1\\.0\\.0\\s+previous\\s+dpkg \\(${NAME}-image-1\\.0\\.0\\)$`, 'm'));
        expect(list.stdout).toMatch(new RegExp(`^1\\.1\\.0\\s+current\\s+dpkg \\(${NAME}-image-1\\.1\\.0\\)$`, 'm'));
        const gc = await ctl(r, NAME, ['gc', '--keep', '0']);
        expect(gc.exitCode, gc.all).toBe(0);
        expect(gc.stdout).toContain(`remove ${NAME}-image-1.0.0`);
        expect(fs.existsSync(path.join(r, `usr/lib/${NAME}/images/1.0.0`))).toBe(true);
      });

      it('refuses to remove an image a container runs on', async () => {
        const proc = fakeContainer(bin, r, NAME, '1.0.0');
        try {
          await new Promise((resolve) => setTimeout(resolve, 300));
          const res = await dpkg(r, ['-r', `${NAME}-image-1.0.0`]);
          expect(res.exitCode).not.toBe(0);
          expect(res.all).toContain(`image 1.0.0 is in use by ${NAME}-1-4242`);
          expect(fs.existsSync(path.join(r, `usr/lib/${NAME}/images/1.0.0/etc/release-marker`))).toBe(true);
        } finally {
          proc.kill('SIGKILL');
          await proc;
        }
      });

      it('removing the current image moves current to the newest image left', async () => {
        const res = await dpkg(r, ['-r', `${NAME}-image-1.1.0`]);
        expect(res.exitCode, res.all).toBe(0);
        expect(res.all).toContain('switching to 1.0.0');
        expect(current(r)).toBe('1.0.0');
        expect(fs.existsSync(path.join(r, `var/lib/${NAME}/previous`))).toBe(false);
      });

      it('purge leaves nothing of either package', async () => {
        const res = await dpkg(r, ['--purge', NAME, `${NAME}-image-1.0.0`]);
        expect(res.exitCode, res.all).toBe(0);
        // Every path left was there before (dpkg also drops the empty system directories that, in
        // this scratch database, no other package owns).
        const pristine = layout(hostRoot());
        const left = [...layout(r).keys()].filter((p) => !pristine.has(p));
        expect(left).toEqual([]);
        expect(fs.existsSync(path.join(r, 'etc', NAME))).toBe(false);
        expect(fs.existsSync(path.join(r, 'var/lib', NAME))).toBe(false);
      });
    });
    describe('dpkg killed in the middle of an upgrade', () => {
      const v3 = testRecipe({ name: NAME, version: '1.2.0' });
      const v4 = testRecipe({ name: NAME, version: '1.3.0' });
      let r: string;
      let debs3: TestDebs;
      let debs4: TestDebs;
      let hook: string;
      let image1: Map<string, string>;
      beforeAll(async () => {
        const out = tempDir('eb-debs-kill');
        cleanup.push(out);
        // 48 MiB that dpkg writes and fsyncs file by file: a window of a second or so to kill it in.
        debs3 = await buildTestDebs(v3, out, { bulkMiB: 48 });
        debs4 = await buildTestDebs(v4, out);
        r = hostRoot();
        const res = await dpkg(r, ['-i', debs1.image, debs1.host]);
        expect(res.exitCode, res.all).toBe(0);
        image1 = imageFiles(r, '1.0.0');
        // deb-systemd-helper that, called from a postinst, says so and hangs: dpkg is then
        // deterministically in the middle of configuring, after the postinst switched `current`.
        hook = tempDir('eb-hook');
        cleanup.push(hook);
        fs.writeFileSync(
          path.join(hook, 'deb-systemd-helper'),
          `#!/bin/sh\n[ "$DPKG_MAINTSCRIPT_NAME" = postinst ] || exec /usr/bin/deb-systemd-helper "$@"\n: > '${hook}/reached'\nexec sleep 600\n`,
          { mode: 0o755 },
        );
      });

      it('while unpacking the new image: current stays on the old, complete image; dpkg --configure -a and the install again recover', async () => {
        const bulk = path.join(r, 'usr/lib', NAME, 'images/1.2.0/usr/share/bulk');
        await dpkgKilled(r, ['-i', debs3.image, debs3.host], () => fs.existsSync(bulk) && fs.readdirSync(bulk).length > 0);
        // Half-installed, reinstallation required: dpkg knows the unpack did not finish.
        expect(await dpkgStatus(r, `${NAME}-image-1.2.0`)).toBe('iHR');
        expect(current(r)).toBe('1.0.0');
        expect(imageFiles(r, '1.0.0')).toEqual(image1);

        const configure = await dpkg(r, ['--configure', '-a']);
        expect(configure.exitCode, configure.all).toBe(0);
        expect(current(r)).toBe('1.0.0');
        expect(imageFiles(r, '1.0.0')).toEqual(image1);

        const again = await dpkg(r, ['-i', debs3.image, debs3.host]);
        expect(again.exitCode, again.all).toBe(0);
        expect([await dpkgStatus(r, `${NAME}-image-1.2.0`), await dpkgStatus(r, NAME)]).toEqual(['ii', 'ii']);
        expect(current(r)).toBe('1.2.0');
        expect(fs.readdirSync(bulk)).toHaveLength(48);
      });

      it('while configuring (postinst hangs after the switch): current is a complete image; dpkg --configure -a finishes the upgrade', async () => {
        const image2 = imageFiles(r, '1.2.0');
        await dpkgKilled(r, ['-i', debs4.image, debs4.host], () => fs.existsSync(path.join(hook, 'reached')), { PATH: `${hook}:${process.env.PATH}` });
        expect(await dpkgStatus(r, NAME)).toBe('iF');
        expect(current(r)).toBe('1.3.0');
        expect(fs.readFileSync(path.join(r, 'usr/lib', NAME, 'images/1.3.0/etc/release-marker'), 'utf8')).toBe('image 1.3.0');
        expect(imageFiles(r, '1.2.0')).toEqual(image2);

        const configure = await dpkg(r, ['--configure', '-a']);
        expect(configure.exitCode, configure.all).toBe(0);
        expect(await dpkgStatus(r, NAME)).toBe('ii');
        expect(current(r)).toBe('1.3.0');
        expect(path.basename(fs.readlinkSync(path.join(r, `var/lib/${NAME}/previous`)))).toBe('1.2.0');
      });
    });
  },
);
