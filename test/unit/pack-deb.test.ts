// The .deb writer, checked with dpkg-deb, dpkg-gencontrol, md5sum and lintian: ar layout and
// headers, control fields, md5sums, conffiles, maintainer scripts, a faithful `dpkg-deb -x`
// (including owners that a host user name must not steal), xz and zstd members, determinism.
import { execa, execaSync } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildDeb, type DebSpec } from '../../pipeline/pack/deb-writer.ts';
import { packLayout, type PackLayout } from '../../pipeline/pack/layout.ts';
import { mergeEntries, scanTree } from '../../pipeline/pack/tar-entries.ts';
import { describeWith } from '../helpers/env.ts';
import { describeTree, FIXTURE_RECIPE, fixtureHostFiles, IMAGE_UID, makeFixtureTree, SDE, tempDir } from './pack-fixture.ts';

const IMAGE_DIR = 'usr/lib/ebtest/images/1.4.0-rc.1';

let work: string;
let layout: PackLayout;
let imageDeb: string;
let hostDeb: string;

function spec(which: 'image' | 'host', outFile: string, tool: 'xz' | 'zstd' = 'xz'): DebSpec {
  return { outFile, ...layout[which], compression: { tool, level: tool === 'xz' ? 6 : 19 }, sourceDateEpoch: SDE };
}

interface ArMember {
  name: string;
  mtime: string;
  uid: string;
  gid: string;
  mode: string;
  size: number;
}

function arMembers(file: string): ArMember[] {
  const buf = fs.readFileSync(file);
  expect(buf.subarray(0, 8).toString()).toBe('!<arch>\n');
  const members: ArMember[] = [];
  let off = 8;
  while (off < buf.length) {
    const h = buf.subarray(off, off + 60).toString('latin1');
    expect(h.slice(58)).toBe('`\n');
    const size = Number(h.slice(48, 58).trim());
    members.push({
      name: h.slice(0, 16).trim(),
      mtime: h.slice(16, 28).trim(),
      uid: h.slice(28, 34).trim(),
      gid: h.slice(34, 40).trim(),
      mode: h.slice(40, 48).trim(),
      size,
    });
    off += 60 + size + (size % 2);
  }
  expect(off).toBe(buf.length);
  return members;
}

beforeAll(() => {
  work = tempDir('pack-deb');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describeWith({ root: true, tools: ['dpkg-deb', 'xz', 'zstd'] }, '.deb writer', () => {
  beforeAll(async () => {
    const tree = path.join(work, 'tree');
    makeFixtureTree(tree);
    layout = await packLayout(FIXTURE_RECIPE, tree, fixtureHostFiles());
    imageDeb = path.join(work, layout.names.imageDeb);
    hostDeb = path.join(work, layout.names.hostDeb);
    await buildDeb(spec('image', imageDeb));
    await buildDeb(spec('host', hostDeb));
  });

  it('is an ar archive of debian-binary, control.tar.xz, data.tar.xz with fixed headers', () => {
    for (const deb of [imageDeb, hostDeb]) {
      const members = arMembers(deb);
      expect(members.map((m) => m.name)).toEqual(['debian-binary', 'control.tar.xz', 'data.tar.xz']);
      for (const m of members)
        expect({ mtime: m.mtime, uid: m.uid, gid: m.gid, mode: m.mode }).toEqual({ mtime: String(SDE), uid: '0', gid: '0', mode: '100644' });
      expect(execaSync('dpkg-deb', ['--fsys-tarfile', deb], { encoding: 'buffer' }).exitCode).toBe(0);
    }
    expect(fs.readFileSync(hostDeb).subarray(68, 72).toString()).toBe('2.0\n');
  });

  it('has the control fields dpkg-deb reads (golden)', async () => {
    await expect(`${execaSync('dpkg-deb', ['-f', hostDeb]).stdout}\n`).toMatchFileSnapshot('../golden/pack-control-host.txt');
    await expect(`${execaSync('dpkg-deb', ['-f', imageDeb]).stdout}\n`).toMatchFileSnapshot('../golden/pack-control-image.txt');
    expect(execaSync('dpkg-deb', ['-f', hostDeb, 'Depends']).stdout).toBe('ebtest-image-1.4.0-rc.1 (= 1.4.0~rc.1), systemd-container, openssh-client');
    expect(execaSync('dpkg-deb', ['-f', imageDeb, 'Package', 'Version']).stdout).toBe('Package: ebtest-image-1.4.0-rc.1\nVersion: 1.4.0~rc.1');
  });

  it('computes Installed-Size as dpkg-gencontrol does over the same files', () => {
    for (const deb of [imageDeb, hostDeb]) {
      const dir = path.join(work, `gencontrol-${path.basename(deb)}`);
      fs.mkdirSync(path.join(dir, 'debian'), { recursive: true });
      execaSync('dpkg-deb', ['-x', deb, path.join(dir, 'pkg')]);
      fs.writeFileSync(path.join(dir, 'debian/control'), 'Source: x\nMaintainer: A <a@example.org>\n\nPackage: x\nArchitecture: amd64\nDescription: x\n x\n');
      fs.writeFileSync(
        path.join(dir, 'debian/changelog'),
        'x (1.0) unstable; urgency=medium\n\n  * x\n\n -- A <a@example.org>  Thu, 01 Jan 1970 00:00:00 +0000\n',
      );
      const theirs = execaSync('dpkg-gencontrol', ['-px', '-Ppkg', '-O'], { cwd: dir }).stdout.match(/^Installed-Size: (\d+)$/m)?.[1];
      expect(execaSync('dpkg-deb', ['-f', deb, 'Installed-Size']).stdout).toBe(theirs);
    }
  });

  it('extracts with dpkg-deb -x to the source tree: paths, modes, numeric owners, contents, links', () => {
    const dest = path.join(work, 'x-image');
    execaSync('dpkg-deb', ['-x', imageDeb, dest]);
    const want = describeTree(path.join(work, 'tree'));
    const got = describeTree(path.join(dest, IMAGE_DIR));
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [p, w] of want) {
      const g = got.get(p)!;
      expect({ ...g, mtime: 0, inode: undefined }, p).toEqual({ ...w, mtime: 0, inode: undefined });
    }
    expect(got.get('usr/bin/perl')!.inode).toBe(got.get('usr/bin/perl5.40')!.inode);
    expect(got.get('home/builder.template/.profile')!.uid).toBe(IMAGE_UID);
    expect(got.get('usr/bin/su')!.mode).toBe(0o4755);
    expect(got.get('tmp')!.mode).toBe(0o1777);
    const lintianOverride = fs.readFileSync(path.join(dest, 'usr/share/lintian/overrides/ebtest-image-1.4.0-rc.1'), 'utf8');
    expect(lintianOverride).toBe(fixtureHostFiles().lintianOverrides.image);
    expect(fs.existsSync(path.join(dest, 'usr/share/doc/ebtest-image-1.4.0-rc.1/copyright'))).toBe(true);
  });

  it('orders data.tar as dpkg-deb does: bytewise, with every symlink after everything else', () => {
    const listing = execaSync('sh', ['-c', `dpkg-deb --fsys-tarfile '${imageDeb}' | tar -tvf -`]).stdout.split('\n');
    const names = listing.map((l) =>
      l
        .replace(/^(\S+\s+){5}/, '')
        .replace(/ -> .*$/, '')
        .replace(/ link to .*$/, '')
        .replace(/\/$/, ''),
    );
    const isLink = listing.map((l) => l.startsWith('l'));
    const firstLink = isLink.indexOf(true);
    expect(firstLink).toBeGreaterThan(0);
    expect(isLink.slice(firstLink).every(Boolean)).toBe(true);
    const bytewise = (l: string[]) => [...l].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(names.slice(0, firstLink)).toEqual(bytewise(names.slice(0, firstLink)));
    expect(names.slice(firstLink)).toEqual(bytewise(names.slice(firstLink)));
    expect(names.slice(firstLink)).toContain(`./${IMAGE_DIR}/usr/bin/sh`);
  });

  it('installs with dpkg itself (dpkg --unpack into a scratch root), keeping modes, owners and links', () => {
    // dpkg has its own tar reader, stricter than dpkg-deb -x's GNU tar (it refuses PAX headers).
    const root = path.join(work, 'dpkg-root');
    fs.mkdirSync(path.join(root, 'var/lib/dpkg/info'), { recursive: true });
    fs.mkdirSync(path.join(root, 'var/lib/dpkg/updates'), { recursive: true });
    fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
    // No preinst in the fixture packages: --unpack runs none of their scripts.
    execaSync('dpkg', [`--root=${root}`, '--force-depends', '--unpack', imageDeb, hostDeb]);
    const want = describeTree(path.join(work, 'tree'));
    const got = describeTree(path.join(root, IMAGE_DIR));
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [p, w] of want) {
      const g = got.get(p)!;
      expect({ ...g, mtime: 0, inode: Boolean(g.inode) }, p).toEqual({ ...w, mtime: 0, inode: Boolean(w.inode) });
    }
    expect(got.get('usr/bin/perl')!.inode).toBe(got.get('usr/bin/perl5.40')!.inode);
    // Unpacked, not configured: dpkg keeps a new conffile aside until configure.
    expect(fs.readFileSync(path.join(root, 'etc/ebtest/ebtest.conf.dpkg-new'), 'utf8')).toBe('PORT=24\n');
    expect(
      execaSync('dpkg-query', [`--admindir=${root}/var/lib/dpkg`, '-W', '-f', '${Package} ${Version} ${Status}\n'])
        .stdout.split('\n')
        .sort(),
    ).toEqual(['ebtest 1.4.0~rc.1 install ok unpacked', 'ebtest-image-1.4.0-rc.1 1.4.0~rc.1 install ok unpacked']);
  });

  it('has md5sums that md5sum -c accepts, without the conffiles, and lists the conffiles and triggers', () => {
    const dest = path.join(work, 'x-host');
    execaSync('dpkg-deb', ['-R', hostDeb, dest]);
    const md5sums = fs.readFileSync(path.join(dest, 'DEBIAN/md5sums'), 'utf8');
    expect(execaSync('md5sum', ['--strict', '-c', 'DEBIAN/md5sums'], { cwd: dest }).exitCode).toBe(0);
    expect(md5sums).toMatch(/ {2}usr\/sbin\/ebtestctl\n/);
    expect(md5sums).not.toMatch(/etc\/ebtest/);
    expect(fs.readFileSync(path.join(dest, 'DEBIAN/conffiles'), 'utf8')).toBe('/etc/ebtest/ebtest.conf\n');
    expect(fs.readFileSync(path.join(dest, 'DEBIAN/triggers'), 'utf8')).toBe('interest-noawait /usr/bin/systemd-nspawn\n');
    expect(fs.statSync(path.join(dest, 'DEBIAN/triggers')).mode & 0o777).toBe(0o644);
    for (const s of ['postinst', 'prerm', 'postrm']) expect(fs.statSync(path.join(dest, 'DEBIAN', s)).mode & 0o777, s).toBe(0o755);
    expect(fs.existsSync(path.join(dest, 'DEBIAN/preinst'))).toBe(false);
    // Every regular file of the image, hard links included, is in its md5sums.
    const img = path.join(work, 'x-image-ctl');
    execaSync('dpkg-deb', ['-R', imageDeb, img]);
    expect(execaSync('md5sum', ['--strict', '-c', 'DEBIAN/md5sums'], { cwd: img }).stdout).toMatch(new RegExp(`${IMAGE_DIR}/usr/bin/perl5.40: OK`));
    const files = execaSync('find', ['.', '-path', './DEBIAN', '-prune', '-o', '-type', 'f', '-printf', '%P\\n'], { cwd: img }).stdout.split('\n').sort();
    const listed = fs
      .readFileSync(path.join(img, 'DEBIAN/md5sums'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.slice(34))
      .sort();
    expect(listed).toEqual(files);
  });

  it('is byte-identical when built twice', async () => {
    const again = path.join(work, 'again.deb');
    await buildDeb(spec('image', again));
    expect(fs.readFileSync(again).equals(fs.readFileSync(imageDeb))).toBe(true);
  });

  it('writes zstd members when asked, which dpkg-deb reads', async () => {
    const deb = path.join(work, 'zstd.deb');
    await buildDeb(spec('image', deb, 'zstd'));
    expect(arMembers(deb).map((m) => m.name)).toEqual(['debian-binary', 'control.tar.zst', 'data.tar.zst']);
    const dest = path.join(work, 'x-zstd');
    execaSync('dpkg-deb', ['-x', deb, dest]);
    // A directory's mtime is the time of extraction: the symlinks come last, as in dpkg-deb's own
    // packages, and tar writes them into directories whose times it has already set.
    const noInodes = (m: ReturnType<typeof describeTree>) =>
      [...m].map(([p, r]) => [p, { ...r, inode: r.inode ? 'linked' : undefined, mtime: r.type === 'dir' ? 0 : r.mtime }]);
    expect(noInodes(describeTree(path.join(dest, IMAGE_DIR)))).toEqual(noInodes(describeTree(path.join(work, 'x-image', IMAGE_DIR))));
  });

  it('removes its partial output and temporary member when a file disappears', async () => {
    const t = path.join(work, 'vanishing');
    fs.mkdirSync(t);
    fs.writeFileSync(path.join(t, 'gone'), 'x');
    const data = mergeEntries([await scanTree(t, 'usr/lib/x', SDE)], SDE);
    fs.rmSync(path.join(t, 'gone'));
    const outDir = path.join(work, 'failing');
    fs.mkdirSync(outDir);
    const out = path.join(outDir, 'x.deb');
    await expect(buildDeb({ ...spec('host', out), data, conffiles: [] })).rejects.toThrow(/ENOENT/);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });
});

describeWith({ root: true, tools: ['dpkg-deb', 'useradd', 'usermod', 'userdel'] }, 'owners by number', () => {
  // The build machine knows uid N as "ebpackowner"; the host knows that name as N+1. dpkg-deb -x
  // (like dpkg -i) maps a recorded user name to the host's uid, so only an archive without names
  // keeps N. This is why image files carry numeric ids with empty names.
  const user = 'ebpackowner';
  let uid = 0;
  afterAll(() => {
    execaSync('userdel', [user], { reject: false });
  });

  it("survive a host where the build machine's user name has another uid", async () => {
    uid = IMAGE_UID;
    while (
      execaSync('getent', ['passwd', String(uid)], { reject: false }).exitCode === 0 ||
      execaSync('getent', ['passwd', String(uid + 1)], { reject: false }).exitCode === 0
    )
      uid += 2;
    expect(execaSync('getent', ['passwd', user], { reject: false }).exitCode, `a user ${user} already exists`).not.toBe(0);
    await execa('useradd', ['-M', '-N', '-u', String(uid), '-s', '/usr/sbin/nologin', user]);
    const t = path.join(work, 'owned');
    fs.mkdirSync(t);
    fs.writeFileSync(path.join(t, 'file'), 'x');
    fs.chownSync(path.join(t, 'file'), uid, uid);
    const deb = path.join(work, 'owned.deb');
    await buildDeb({ ...spec('host', deb), data: mergeEntries([await scanTree(t, 'usr/lib/owned', SDE)], SDE), conffiles: [] });
    await execa('usermod', ['-u', String(uid + 1), user]);
    const dest = path.join(work, 'x-owned');
    execaSync('dpkg-deb', ['-x', deb, dest]);
    expect(fs.statSync(path.join(dest, 'usr/lib/owned/file')).uid).toBe(uid);
  });
});

describeWith({ root: true, tools: ['lintian'] }, 'lintian', () => {
  it('reports no errors and no warnings on the host package', async () => {
    const r = await execa('lintian', ['--no-cfg', '--fail-on', 'error,warning', '--display-level', '>=warning', hostDeb], { reject: false });
    expect(r.stdout.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    expect(r.exitCode).toBe(0);
  });
});
