// The apt repository writer against the real tools: dpkg-deb builds the packages, gpg signs,
// and apt-get, confined to a temporary configuration that trusts no key except the repository's
// Signed-By keyring, must accept it over HTTP (no trusted=yes), find every published version,
// download each one, and refuse the repository when a signature or an index is tampered with.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../pipeline/errors.ts';
import { field, parseParagraphs } from '../../pipeline/publish/deb822.ts';
import { compareDebianVersions } from '../../pipeline/publish/version-order.ts';
import { nextVersion } from '../../pipeline/publish/next-version.ts';
import { publish, type PublishOptions } from '../../pipeline/publish/publish.ts';
import { makeAptSandbox, type AptSandbox } from '../e2e/harness/apt-sandbox.ts';
import { buildFixtureDeb, buildFixtureRelease } from '../e2e/harness/fixture-deb.ts';
import { keyringFingerprints, makeSigningKey, type SigningKey } from '../e2e/harness/gpg-key.ts';
import { describeWith } from '../helpers/env.ts';
import { serveDirectory, type StaticServer } from '../helpers/http-server.ts';
import { VERSION_PAIRS } from '../unit/publish-version-pairs.ts';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** A key's public part as a binary keyring file, as apt's Signed-By takes it. */
async function publicKeyFile(k: SigningKey, file: string): Promise<string> {
  const exported = await execa('gpg', ['--batch', '--homedir', k.gnupgHome, '--export', k.fingerprint], { encoding: 'buffer', stripFinalNewline: false });
  fs.writeFileSync(file, exported.stdout);
  return file;
}

/** The SHA256 of every index a Release file lists. */
function parseReleaseHashes(file: string): string[] {
  const [release] = parseParagraphs(fs.readFileSync(file, 'utf8'));
  return field(release!, 'SHA256')!
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!);
}

/** Every file below dir with its sha256, to show that a refused publish changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const abs = path.join(dir, rel);
    if (fs.statSync(abs).isFile()) out[rel] = sha256(abs);
  }
  return out;
}

describeWith({ tools: ['dpkg-deb', 'dpkg', 'gpg', 'gpgv', 'apt-get', 'xz', 'gzip'] }, 'publish: an apt repository apt-get accepts', () => {
  let work: string;
  let www: string;
  let repo: string;
  let key: SigningKey;
  let otherKey: SigningKey;
  let server: StaticServer;
  const sandboxes: AptSandbox[] = [];
  const debs: Record<string, string> = {};
  let firstDate = 0;

  const opts = (extra: Partial<PublishOptions>): PublishOptions => ({ repoDir: repo, gnupgHome: key.gnupgHome, debs: [], ...extra });

  /** A fresh apt configuration using the repository at `sub` (below www) with the given keyring. */
  function sandboxFor(sub: string, keyring: string | undefined, transport: 'http' | 'file' = 'http'): AptSandbox {
    const sb = makeAptSandbox();
    sandboxes.push(sb);
    const uri = transport === 'http' ? `${server.url}${sub}/` : `file:${path.join(www, sub)}/`;
    let sources = fs.readFileSync(path.join(repo, 'demo-tool.sources'), 'utf8').replace(/^URIs: .*$/m, `URIs: ${uri}`);
    if (keyring) {
      fs.copyFileSync(keyring, path.join(sb.dir, 'keyring.gpg'));
      sources = sources.replace(/^Signed-By: .*$/m, `Signed-By: ${path.join(sb.dir, 'keyring.gpg')}`);
    } else {
      sources = sources.replace(/^Signed-By: .*\n/m, '');
    }
    sb.setSources(sources);
    return sb;
  }

  /** A copy of the repository under www, for tampering with. */
  function copyRepo(sub: string): string {
    const dest = path.join(www, sub);
    fs.cpSync(repo, dest, { recursive: true });
    return dest;
  }

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-publish-'));
    www = path.join(work, 'www');
    repo = path.join(www, 'repo');
    key = await makeSigningKey();
    otherKey = await makeSigningKey('someone else <other@example.invalid>');
    const out = path.join(work, 'debs');
    debs.v100 = await buildFixtureDeb(out, { name: 'demo-tool', version: '1.0.0', files: { 'usr/share/demo-tool/release': '1.0.0\n' } });
    debs.v110 = await buildFixtureDeb(out, { name: 'demo-tool', version: '1.1.0', files: { 'usr/share/demo-tool/release': '1.1.0\n' } });
    debs.v100b = await buildFixtureDeb(out, { name: 'demo-tool', version: '1.0.0', files: { 'usr/share/demo-tool/release': 'rebuilt\n' } }, '-rebuilt');
    debs.extra = await buildFixtureDeb(out, { name: 'demo-tool-extra', version: '2.0.0~rc.1', architecture: 'amd64', depends: 'demo-tool (>= 1.0.0)' });
    server = await serveDirectory(www);
  });

  afterAll(async () => {
    await server?.close();
    for (const sb of sandboxes) sb.dispose();
    await key?.dispose();
    await otherKey?.dispose();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('publishes a first set: pool, Packages(.gz/.xz), Release, InRelease, Release.gpg, keyring, its package and .sources', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await publish(opts({ debs: [debs.v100!, debs.extra!] }));
    const [release] = parseParagraphs(fs.readFileSync(res.release, 'utf8'));
    firstDate = Date.parse(field(release!, 'Date')!) / 1000;
    expect(firstDate).toBeGreaterThanOrEqual(before);
    // Valid for three weeks from its Date: apt refuses it afterwards, unless it is signed again.
    expect(Date.parse(field(release!, 'Valid-Until')!) / 1000 - firstDate).toBe(21 * 86400);
    expect(res.added.map((p) => `${p.package} ${p.version}`)).toEqual(['demo-tool 1.0.0', 'demo-tool-extra 2.0.0~rc.1', 'demo-tool-archive-keyring 1']);
    expect(res.fingerprint).toBe(key.fingerprint);
    expect(sha256(path.join(repo, 'pool/main/d/demo-tool/demo-tool_1.0.0_all.deb'))).toBe(sha256(debs.v100!));
    for (const f of ['InRelease', 'Release', 'Release.gpg', 'main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-amd64/Packages.xz']) {
      expect(fs.existsSync(path.join(repo, 'dists/stable', f)), f).toBe(true);
    }
    expect(res.keyring).toBe(path.join(repo, 'demo-tool-archive-keyring.gpg'));
    expect(fs.readFileSync(res.sources, 'utf8')).toMatch(/^Signed-By: \/etc\/apt\/keyrings\/demo-tool-archive-keyring\.gpg$/m);
    // The keyring package installs exactly the published keyring where Signed-By looks.
    const pkg = path.join(repo, 'pool/main/d/demo-tool-archive-keyring/demo-tool-archive-keyring_1_all.deb');
    const listing = (await execa('dpkg-deb', ['--contents', pkg])).stdout;
    expect(listing).toMatch(/^-rw-r--r-- 0\/0 .* \.\/etc\/apt\/keyrings\/demo-tool-archive-keyring\.gpg$/m);
    const inside = await execa('dpkg-deb', ['--fsys-tarfile', pkg], { encoding: 'buffer' }).then((t) =>
      execa('tar', ['-xOf', '-', './etc/apt/keyrings/demo-tool-archive-keyring.gpg'], { input: t.stdout, encoding: 'buffer', stripFinalNewline: false }),
    );
    expect(Buffer.compare(Buffer.from(inside.stdout), fs.readFileSync(res.keyring))).toBe(0);
    const description = (await execa('dpkg-deb', ['--field', pkg, 'Description'])).stdout.replace(/\n /g, ' ');
    expect(description).toContain(`${key.fingerprint} (signs the repository now, expires `);
  });

  it('writes Packages.gz and .xz that decompress to Packages, and a Release whose sizes and hashes match', async () => {
    const dist = path.join(repo, 'dists/stable');
    const plain = fs.readFileSync(path.join(dist, 'main/binary-amd64/Packages'), 'utf8');
    expect(`${(await execa('gzip', ['-dc', path.join(dist, 'main/binary-amd64/Packages.gz')])).stdout}\n`).toBe(plain);
    expect(`${(await execa('xz', ['-dc', path.join(dist, 'main/binary-amd64/Packages.xz')])).stdout}\n`).toBe(plain);
    const entry = parseParagraphs(plain).find((p) => field(p, 'Package') === 'demo-tool')!;
    expect(field(entry, 'Filename')).toBe('pool/main/d/demo-tool/demo-tool_1.0.0_all.deb');
    expect(field(entry, 'Size')).toBe(String(fs.statSync(debs.v100!).size));
    expect(field(entry, 'SHA256')).toBe(sha256(debs.v100!));
    expect(field(entry, 'MD5sum')).toBe(createHash('md5').update(fs.readFileSync(debs.v100!)).digest('hex'));

    const [release] = parseParagraphs(fs.readFileSync(path.join(dist, 'Release'), 'utf8'));
    expect(Object.fromEntries(['Origin', 'Label', 'Suite', 'Codename', 'Architectures', 'Components'].map((n) => [n, field(release!, n)]))).toEqual({
      Origin: 'demo-tool',
      Label: 'demo-tool',
      Suite: 'stable',
      Codename: 'stable',
      Architectures: 'amd64',
      Components: 'main',
    });
    for (const [section, algo] of [
      ['SHA256', 'sha256'],
      ['MD5Sum', 'md5'],
    ] as const) {
      const rows = field(release!, section)!
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/));
      expect(rows.map((r) => r[2])).toEqual(['main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-amd64/Packages.xz']);
      for (const [hash, size, rel] of rows) {
        const data = fs.readFileSync(path.join(dist, rel!));
        expect(size).toBe(String(data.length));
        expect(hash).toBe(createHash(algo).update(data).digest('hex'));
        // The by-hash copy apt fetches (Acquire-By-Hash: yes).
        if (algo === 'sha256') expect(sha256(path.join(dist, path.dirname(rel!), 'by-hash/SHA256', hash!))).toBe(hash);
      }
    }
    // InRelease carries exactly the Release text.
    const inRelease = fs.readFileSync(path.join(dist, 'InRelease'), 'utf8');
    expect(inRelease).toContain(fs.readFileSync(path.join(dist, 'Release'), 'utf8').trimEnd());
  });

  it('exports the key as a binary OpenPGP certificate (not armored, not a keybox) that gpgv verifies both signatures with', async () => {
    const keyring = path.join(repo, 'demo-tool-archive-keyring.gpg');
    expect((await execa('file', ['-b', keyring], { reject: false })).stdout).toMatch(/^OpenPGP Public Key/);
    const packets = (await execa('gpg', ['--batch', '--homedir', key.gnupgHome, '--list-packets', keyring])).stdout;
    expect(packets).toMatch(/^:public key packet:/m);
    expect(fs.readFileSync(keyring).subarray(8, 12).toString('latin1')).not.toBe('KBXf');
    const dist = path.join(repo, 'dists/stable');
    for (const args of [['InRelease'], ['Release.gpg', 'Release']]) {
      const r = await execa('gpgv', ['--homedir', work, '--keyring', keyring, ...args], { cwd: dist, reject: false });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain(key.fingerprint.slice(-16));
    }
  });

  it('is accepted by apt-get update over HTTP with only Signed-By trusted', async () => {
    const sb = sandboxFor('repo', path.join(repo, 'demo-tool-archive-keyring.gpg'));
    const up = await sb.aptGet(['update']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stderr).not.toMatch(/^[WE]:/m);
    const policy = (await sb.aptCache(['policy', 'demo-tool', 'demo-tool-extra'])).stdout;
    expect(policy).toMatch(/demo-tool:\n\s+Installed: \(none\)\n\s+Candidate: 1\.0\.0/);
    expect(policy).toMatch(/demo-tool-extra:\n\s+Installed: \(none\)\n\s+Candidate: 2\.0\.0~rc\.1/);
  });

  it('is accepted over file:// as well', async () => {
    const sb = sandboxFor('repo', path.join(repo, 'demo-tool-archive-keyring.gpg'), 'file');
    const up = await sb.aptGet(['update']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect((await sb.aptCache(['policy', 'demo-tool'])).stdout).toMatch(/Candidate: 1\.0\.0/);
  });

  it('adds a second version and keeps the first: apt sees both and downloads each, even when the date given is older', async () => {
    // A client that already has the first Release must see the second one too.
    const sb = sandboxFor('repo', path.join(repo, 'demo-tool-archive-keyring.gpg'));
    expect((await sb.aptGet(['update'])).exitCode).toBe(0);
    const res = await publish(opts({ debs: [debs.v110!], date: firstDate - 86400 }));
    expect(res.added.map((p) => p.version)).toEqual(['1.1.0']);
    // Never backwards: apt keeps its old indexes, silently, when a Release is older than its own.
    const date = Date.parse(field(parseParagraphs(fs.readFileSync(res.release, 'utf8'))[0]!, 'Date')!) / 1000;
    expect(date).toBe(firstDate);

    const before = server.requests.length;
    const up = await sb.aptGet(['update']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(server.requests.slice(before).map((r) => r.path)).toContainEqual(
      expect.stringMatching(/^\/repo\/dists\/stable\/main\/binary-amd64\/by-hash\/SHA256\/[0-9a-f]{64}$/),
    );
    const policy = (await sb.aptCache(['policy', 'demo-tool'])).stdout;
    expect(policy).toMatch(/Candidate: 1\.1\.0/);
    expect(policy).toMatch(/^\s+1\.1\.0 500$/m);
    expect(policy).toMatch(/^\s+1\.0\.0 500$/m);

    for (const [version, fixture] of [
      ['1.0.0', debs.v100!],
      ['1.1.0', debs.v110!],
    ] as const) {
      const { result, files } = await sb.download(`demo-tool=${version}`);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(files.map((f) => path.basename(f))).toEqual([`demo-tool_${version}_all.deb`]);
      expect(sha256(files[0]!)).toBe(sha256(fixture));
    }
  });

  it('treats publishing identical content again as a no-op', async () => {
    const before = snapshot(repo);
    const res = await publish(opts({ debs: [debs.v100!, debs.v110!] }));
    expect(res.added).toEqual([]);
    // The keyring package is made again, to the same bytes: unchanged too.
    expect(res.unchanged.map((p) => `${p.package} ${p.version}`)).toEqual(['demo-tool 1.0.0', 'demo-tool 1.1.0', 'demo-tool-archive-keyring 1']);
    expect(res.indexesWritten).toBe(false);
    expect(snapshot(repo)).toEqual(before);
  });

  it('refuses the same name and version with different content, and changes nothing', async () => {
    const before = snapshot(repo);
    const attempt = publish(opts({ debs: [debs.v100b!] }));
    await expect(attempt).rejects.toThrow(UsageError);
    await expect(attempt).rejects.toThrow(/demo-tool 1\.0\.0 \(all\) is already published with different content/);
    // Also when the conflicting file comes with a new one: nothing of the batch goes in.
    const newOne = await buildFixtureDeb(path.join(work, 'debs'), { name: 'demo-tool', version: '1.2.0' });
    await expect(publish(opts({ debs: [newOne, debs.v100b!] }))).rejects.toThrow(/already published with different content/);
    expect(snapshot(repo)).toEqual(before);
  });

  it('refuses a tampered InRelease', async () => {
    const copy = copyRepo('tampered-inrelease');
    const file = path.join(copy, 'dists/stable/InRelease');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^Label: .*$/m, 'Label: evil'));
    const up = await sandboxFor('tampered-inrelease', path.join(repo, 'demo-tool-archive-keyring.gpg')).aptGet(['update']);
    expect(up.exitCode).not.toBe(0);
    expect(up.stderr).toMatch(/signatures were invalid|BADSIG|not signed/);
  });

  it('refuses a tampered Release when only Release.gpg signs it, and accepts the untampered pair', async () => {
    const intact = copyRepo('release-gpg-only');
    fs.rmSync(path.join(intact, 'dists/stable/InRelease'));
    const ok = await sandboxFor('release-gpg-only', path.join(repo, 'demo-tool-archive-keyring.gpg')).aptGet(['update']);
    expect(ok.exitCode, ok.stderr).toBe(0);

    const copy = copyRepo('tampered-release');
    fs.rmSync(path.join(copy, 'dists/stable/InRelease'));
    const file = path.join(copy, 'dists/stable/Release');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^Label: .*$/m, 'Label: evil'));
    const up = await sandboxFor('tampered-release', path.join(repo, 'demo-tool-archive-keyring.gpg')).aptGet(['update']);
    expect(up.exitCode).not.toBe(0);
    expect(up.stderr).toMatch(/signatures were invalid|BADSIG|not signed/);
  });

  it('refuses a Packages file that does not match Release', async () => {
    const copy = copyRepo('tampered-packages');
    const dir = path.join(copy, 'dists/stable/main/binary-amd64');
    const evil = fs.readFileSync(path.join(dir, 'Packages'), 'utf8').replace(/^Version: 1\.1\.0$/m, 'Version: 9.9.9');
    const { stdout: xz } = await execa('xz', ['-9', '-c'], { input: evil, encoding: 'buffer', stripFinalNewline: false });
    for (const f of fs.readdirSync(path.join(dir, 'by-hash/SHA256'))) fs.writeFileSync(path.join(dir, 'by-hash/SHA256', f), xz);
    fs.writeFileSync(path.join(dir, 'Packages.xz'), xz);
    const sb = sandboxFor('tampered-packages', path.join(repo, 'demo-tool-archive-keyring.gpg'));
    const up = await sb.aptGet(['update']);
    expect(up.exitCode).not.toBe(0);
    expect(up.stderr).toMatch(/Hash Sum mismatch|File has unexpected size/);
    expect((await sb.aptCache(['policy', 'demo-tool'])).stdout).not.toMatch(/9\.9\.9/);
  });

  it('is refused with another key in Signed-By, and with no Signed-By at all (the sandbox trusts nothing else)', async () => {
    const otherRing = await publicKeyFile(otherKey, path.join(work, 'other.gpg'));
    const wrong = await sandboxFor('repo', otherRing).aptGet(['update']);
    expect(wrong.exitCode).not.toBe(0);
    expect(wrong.stderr).toMatch(/NO_PUBKEY|not signed/);
    const none = await sandboxFor('repo', undefined).aptGet(['update']);
    expect(none.exitCode).not.toBe(0);
    expect(none.stderr).toMatch(/NO_PUBKEY|not signed/);
  });

  it('--resign signs again with a new Valid-Until, leaves the indexes as they were, and apt accepts it', async () => {
    const indexes = () => Object.fromEntries(Object.entries(snapshot(path.join(repo, 'dists/stable/main'))).filter(([f]) => !f.includes('by-hash')));
    const before = indexes();
    const oldInRelease = fs.readFileSync(path.join(repo, 'dists/stable/InRelease'), 'utf8');
    const res = await publish(opts({ resign: true, validFor: 30 * 86400 }));
    expect(res.signs).toBe(true);
    expect(res.added).toEqual([]);
    const [release] = parseParagraphs(fs.readFileSync(res.release, 'utf8'));
    const date = Date.parse(field(release!, 'Date')!) / 1000;
    expect(date).toBeGreaterThanOrEqual(firstDate);
    expect(Date.parse(field(release!, 'Valid-Until')!) / 1000).toBe(date + 30 * 86400);
    expect(fs.readFileSync(res.inRelease, 'utf8')).not.toBe(oldInRelease);
    expect(indexes()).toEqual(before);
    const up = await sandboxFor('repo', path.join(repo, 'demo-tool-archive-keyring.gpg')).aptGet(['update']);
    expect(up.exitCode, up.stderr).toBe(0);
    // Without --resign, an unchanged set is left alone.
    const snap = snapshot(repo);
    expect((await publish(opts({ debs: [debs.v110!] }))).signs).toBe(false);
    expect(snapshot(repo)).toEqual(snap);
  });

  it('a next key rides in the keyring and its package before it signs; after the rotation apt accepts it with that keyring, and refuses it with the old key alone', async () => {
    const rot = copyRepo('rotation');
    const ring = (dir: string) => path.join(dir, 'demo-tool-archive-keyring.gpg');
    const oldOnly = path.join(work, 'old-only.gpg');
    fs.copyFileSync(ring(rot), oldOnly);
    const nextKey = await publicKeyFile(otherKey, path.join(work, 'next-key.gpg'));

    const announced = await publish(opts({ repoDir: rot, nextKeys: [nextKey] }));
    expect(announced.added.map((p) => `${p.package} ${p.version}`)).toEqual(['demo-tool-archive-keyring 2']);
    expect(announced.keys.map((k) => [k.fingerprint, k.role])).toEqual([
      [key.fingerprint, 'signs'],
      [otherKey.fingerprint, 'next'],
    ]);
    expect(await keyringFingerprints(ring(rot))).toEqual([key.fingerprint, otherKey.fingerprint]);
    // Still signed by the current key: a host that has not upgraded yet accepts it.
    expect((await sandboxFor('rotation', oldOnly).aptGet(['update'])).exitCode).toBe(0);
    // The same keys again: nothing new.
    expect((await publish(opts({ repoDir: rot, nextKeys: [nextKey] }))).added).toEqual([]);
    const announcedRing = path.join(work, 'announced.gpg');
    fs.copyFileSync(ring(rot), announcedRing);

    // The rotation: the next key signs, and the keyring package holds it alone.
    const rotated = await publish(opts({ repoDir: rot, gnupgHome: otherKey.gnupgHome, resign: true }));
    expect(rotated.fingerprint).toBe(otherKey.fingerprint);
    expect(rotated.added.map((p) => `${p.package} ${p.version}`)).toEqual(['demo-tool-archive-keyring 3']);
    expect(await keyringFingerprints(ring(rot))).toEqual([otherKey.fingerprint]);
    const upgraded = await sandboxFor('rotation', announcedRing).aptGet(['update']);
    expect(upgraded.exitCode, upgraded.stderr).toBe(0);
    const stale = await sandboxFor('rotation', oldOnly).aptGet(['update']);
    expect(stale.exitCode).not.toBe(0);
    expect(stale.stderr).toMatch(/NO_PUBKEY|not signed|Missing key/);
  });

  it('refuses a signing key that never expires, or that expires before Valid-Until, and changes nothing', async () => {
    const forever = await makeSigningKey('forever <forever@example.invalid>', 'never');
    const soon = await makeSigningKey('soon <soon@example.invalid>', '10d');
    try {
      const before = snapshot(repo);
      const newOne = await buildFixtureDeb(path.join(work, 'debs'), { name: 'demo-tool', version: '1.5.0' });
      await expect(publish(opts({ gnupgHome: forever.gnupgHome, debs: [newOne] }))).rejects.toThrow(
        /never expires: give it an expiry \(gpg --quick-set-expire/,
      );
      await expect(publish(opts({ gnupgHome: soon.gnupgHome, debs: [newOne] }))).rejects.toThrow(
        /expires at .*, before this Release's Valid-Until .*: apt would refuse/,
      );
      expect(snapshot(repo)).toEqual(before);
      // A shorter validity fits the key, and is signed; the key's end is near, which is said.
      const fits = await publish(opts({ gnupgHome: soon.gnupgHome, repoDir: path.join(work, 'soon-repo'), debs: [newOne], validFor: 5 * 86400 }));
      expect(fits.signs).toBe(true);
      expect(fits.warnings.join('\n')).toMatch(new RegExp(`the signing key ${soon.fingerprint} expires at .*: publish the next key`));
    } finally {
      await forever.dispose();
      await soon.dispose();
    }
  });

  describe('retention', () => {
    let kept: string;
    const release = (v: string) => buildFixtureRelease(path.join(work, 'releases'), 'eb-demo', v);
    const ropts = (extra: Partial<PublishOptions>) => opts({ repoDir: kept, ...extra });

    beforeAll(async () => {
      kept = path.join(www, 'kept');
      for (const v of ['1.0.0', '1.1.0', '1.2.0']) await publish(ropts({ debs: await release(v) }));
    });

    it('--dry-run reports what would be added, pruned and signed, and writes nothing', async () => {
      const before = snapshot(kept);
      const res = await publish(ropts({ debs: await release('1.3.0'), keep: 2, dryRun: true }));
      expect(res.dryRun).toBe(true);
      expect(res.added.map((p) => p.package)).toEqual(['eb-demo', 'eb-demo-image-1.3.0']);
      expect(res.pruned.map((p) => [p.version, p.packages.map((x) => x.package)])).toEqual([
        ['1.1.0', ['eb-demo', 'eb-demo-image-1.1.0']],
        ['1.0.0', ['eb-demo', 'eb-demo-image-1.0.0']],
      ]);
      expect(res.kept).toEqual(['1.3.0', '1.2.0']);
      expect(res.signs).toBe(true);
      expect(res.indexesWritten).toBe(false);
      expect(res.size.after).toBeLessThan(res.size.before);
      expect(snapshot(kept)).toEqual(before);
      expect(fs.readdirSync(kept)).not.toContain('.publish.lock');
    });

    it('--max-size refuses a publish that would grow the repository past it, before writing anything; a re-sign is never refused', async () => {
      const before = snapshot(kept);
      const size = Object.keys(before).reduce((n, f) => n + fs.statSync(path.join(kept, f)).size, 0);
      const attempt = publish(ropts({ debs: await release('1.3.0'), maxSize: size + 100 }));
      await expect(attempt).rejects.toThrow(UsageError);
      await expect(attempt).rejects.toThrow(
        new RegExp(`would grow to \\d+ bytes, over --max-size ${size + 100} \\(it is ${size} bytes now\\)\\. Prune old releases with --keep N`),
      );
      expect(snapshot(kept)).toEqual(before);
      expect((await publish(ropts({ resign: true, maxSize: size - 1 }))).signs).toBe(true);
    });

    it('--keep prunes old releases from the index and the pool, keeps the rest downloadable, and drops index copies no Release names', async () => {
      const sb = sandboxFor('kept', path.join(kept, 'eb-demo-archive-keyring.gpg'));
      expect((await sb.aptGet(['update'])).exitCode).toBe(0);
      const previousHashes = parseReleaseHashes(path.join(kept, 'dists/stable/Release'));
      const res = await publish(ropts({ debs: await release('1.3.0'), keep: 2 }));
      expect(res.pruned.map((p) => p.version)).toEqual(['1.1.0', '1.0.0']);
      const packages = parseParagraphs(fs.readFileSync(path.join(kept, 'dists/stable/main/binary-amd64/Packages'), 'utf8'));
      expect(packages.map((p) => `${field(p, 'Package')} ${field(p, 'Version')}`).sort()).toEqual([
        'eb-demo 1.2.0',
        'eb-demo 1.3.0',
        'eb-demo-archive-keyring 1',
        'eb-demo-image-1.2.0 1.2.0',
        'eb-demo-image-1.3.0 1.3.0',
      ]);
      for (const gone of ['eb-demo_1.0.0_all.deb', 'eb-demo_1.1.0_all.deb', 'eb-demo-image-1.0.0_1.0.0_all.deb', 'eb-demo-image-1.1.0_1.1.0_all.deb']) {
        expect(fs.existsSync(path.join(kept, 'pool/main/e', gone.replace(/_.*/, ''), gone)), gone).toBe(false);
      }
      // Index copies: what the new Release and the previous one name, nothing older.
      const byHash = fs.readdirSync(path.join(kept, 'dists/stable/main/binary-amd64/by-hash/SHA256')).sort();
      const named = new Set([...parseReleaseHashes(path.join(kept, 'dists/stable/Release')), ...previousHashes]);
      expect(byHash.length).toBeGreaterThan(0);
      expect(byHash.filter((h) => !named.has(h))).toEqual([]);

      expect((await sb.aptGet(['update'])).exitCode).toBe(0);
      for (const v of ['1.2.0', '1.3.0']) {
        const { result, files } = await sb.download(`eb-demo=${v}`);
        expect(result.exitCode, result.stderr).toBe(0);
        expect(files.map((f) => path.basename(f))).toEqual([`eb-demo_${v}_all.deb`]);
      }
      const pruned = await sb.download('eb-demo=1.1.0');
      expect(pruned.result.exitCode).not.toBe(0);
      expect(pruned.result.stderr).toMatch(/Version '1\.1\.0' for 'eb-demo' was not found/);
    });

    it('--keep refuses to add a release it would prune at once', async () => {
      const before = snapshot(kept);
      await expect(publish(ropts({ debs: await release('0.9.0'), keep: 2 }))).rejects.toThrow(
        /eb-demo 0\.9\.0, eb-demo-image-0\.9\.0 0\.9\.0 is older than the 2 newest versions --keep keeps/,
      );
      expect(snapshot(kept)).toEqual(before);
    });
  });

  it('says which key to use when the GnuPG home is ambiguous or empty', async () => {
    const both = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-gnupg-both-'));
    try {
      const secrets: Uint8Array[] = [];
      for (const k of [key, otherKey]) {
        secrets.push(
          (await execa('gpg', ['--batch', '--homedir', k.gnupgHome, '--export-secret-keys', k.fingerprint], { encoding: 'buffer', stripFinalNewline: false }))
            .stdout,
        );
      }
      // The agent started first and one import: two imports racing the agent's autostart failed
      // once (gpg exit 2) on a loaded machine.
      await execa('gpgconf', ['--homedir', both, '--launch', 'gpg-agent']);
      await execa('gpg', ['--batch', '--homedir', both, '--import'], { input: Buffer.concat(secrets) });
      const newOne = await buildFixtureDeb(path.join(work, 'debs'), { name: 'demo-tool', version: '1.3.0' });
      await expect(publish(opts({ gnupgHome: both, debs: [newOne] }))).rejects.toThrow(/2 secret keys match.*pass --sign-key/);
      await expect(publish(opts({ gnupgHome: both, signKey: 'nobody@example.invalid', debs: [newOne] }))).rejects.toThrow(
        /no secret key "nobody@example.invalid"/,
      );
      // With --sign-key it signs, with that key.
      const res = await publish(opts({ gnupgHome: both, signKey: otherKey.fingerprint, repoDir: path.join(work, 'other-repo'), debs: [newOne] }));
      expect(res.fingerprint).toBe(otherKey.fingerprint);
    } finally {
      await execa('gpgconf', ['--homedir', both, '--kill', 'all'], { reject: false });
      fs.rmSync(both, { recursive: true, force: true });
    }
  });

  it('bumps from what the repository holds (build --bump)', () => {
    expect(nextVersion(repo, 'demo-tool', 'patch')).toBe('1.1.1');
    expect(nextVersion(repo, 'demo-tool', 'minor')).toBe('1.2.0');
    expect(nextVersion(repo, 'demo-tool', 'major')).toBe('2.0.0');
    expect(nextVersion(repo, 'demo-tool-extra', 'patch')).toBe('2.0.0');
  });

  it('orders versions exactly as dpkg --compare-versions does', async () => {
    for (const [a, b] of VERSION_PAIRS) {
      const op = compareDebianVersions(a, b) < 0 ? 'lt' : compareDebianVersions(a, b) > 0 ? 'gt' : 'eq';
      const r = await execa('dpkg', ['--compare-versions', a, op, b], { reject: false });
      expect(r.exitCode, `${a} ${op} ${b}`).toBe(0);
    }
  });
});
