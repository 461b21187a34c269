// Pure parts of the apt repository writer: deb822 round trips, pool layout, Packages ordering,
// the Release file's shape, the .sources file and the binary-key check.
import { describe, expect, it } from 'vitest';
import { field, parseParagraphs, renderParagraphs } from '../../pipeline/publish/deb822.ts';
import { poolPath } from '../../pipeline/publish/deb-file.ts';
import { isBinaryPublicKey } from '../../pipeline/publish/gpg.ts';
import { entryFromParagraph, releaseDate, renderPackages, renderRelease } from '../../pipeline/publish/index-files.ts';
import { renderSources } from '../../pipeline/publish/sources.ts';

const packages = `Package: demo
Version: 1.10.0
Architecture: all
Description: short
 long line one
 .
 long line two
SHA256: aa

Package: demo
Version: 1.9.0
Architecture: all
SHA256: bb

Package: alpha
Version: 2.0.0~rc.1
Architecture: amd64
SHA256: cc

Package: alpha
Version: 2.0.0
Architecture: arm64
SHA256: dd
`;

describe('deb822', () => {
  it('keeps fields, order and continuation lines through a round trip', () => {
    const ps = parseParagraphs(packages);
    expect(ps).toHaveLength(4);
    expect(field(ps[0]!, 'description')).toBe('short\n long line one\n .\n long line two');
    expect(renderParagraphs(ps)).toBe(packages);
  });

  it('refuses a continuation line with no field before it', () => {
    expect(() => parseParagraphs(' stray\n')).toThrow(/continuation/);
  });
});

describe('Packages', () => {
  const entries = parseParagraphs(packages).map(entryFromParagraph);

  it('sorts by name, then by Debian version (1.9.0 before 1.10.0), and lists arch all everywhere', () => {
    const amd64 = parseParagraphs(renderPackages(entries, 'amd64')).map((p) => `${field(p, 'Package')} ${field(p, 'Version')}`);
    expect(amd64).toEqual(['alpha 2.0.0~rc.1', 'demo 1.9.0', 'demo 1.10.0']);
    const arm64 = parseParagraphs(renderPackages(entries, 'arm64')).map((p) => `${field(p, 'Package')} ${field(p, 'Version')}`);
    expect(arm64).toEqual(['alpha 2.0.0', 'demo 1.9.0', 'demo 1.10.0']);
  });

  it('gives the same bytes whatever order the entries come in', () => {
    expect(renderPackages([...entries].reverse(), 'amd64')).toBe(renderPackages(entries, 'amd64'));
  });
});

describe('pool layout', () => {
  it("files by source, with Debian's lib prefix rule, and drops the epoch from the name", () => {
    expect(poolPath('main', { package: 'demo', version: '1.0.0', architecture: 'all', source: 'demo' })).toBe('pool/main/d/demo/demo_1.0.0_all.deb');
    expect(poolPath('main', { package: 'libfoo1', version: '1:2.0-1', architecture: 'amd64', source: 'libfoo' })).toBe(
      'pool/main/libf/libfoo/libfoo1_2.0-1_amd64.deb',
    );
    expect(poolPath('contrib', { package: 'x-image-1.0.0', version: '1.0.0~rc.1', architecture: 'amd64', source: 'x' })).toBe(
      'pool/contrib/x/x/x-image-1.0.0_1.0.0~rc.1_amd64.deb',
    );
  });
});

describe('Release', () => {
  const release = renderRelease(
    {
      origin: 'eb',
      label: 'eb',
      suite: 'stable',
      codename: 'stable',
      date: 1700000000,
      validUntil: 1700000000 + 21 * 86400,
      architectures: ['amd64', 'arm64'],
      components: ['main'],
      description: 'eb packages',
    },
    [
      { path: 'main/binary-amd64/Packages', data: Buffer.from('abc') },
      { path: 'main/binary-amd64/Packages.gz', data: Buffer.from('abcdefghijkl') },
    ],
  );

  it('dates in RFC 2822 UTC, as Debian does, and is valid until a date after it', () => {
    expect(releaseDate(1700000000)).toBe('Tue, 14 Nov 2023 22:13:20 UTC');
    expect(release).toMatch(/^Date: Tue, 14 Nov 2023 22:13:20 UTC\nValid-Until: Tue, 05 Dec 2023 22:13:20 UTC$/m);
  });

  it('lists every file with MD5Sum and SHA256, hash, size, path', () => {
    const [p] = parseParagraphs(release);
    expect(field(p!, 'Architectures')).toBe('amd64 arm64');
    expect(field(p!, 'Acquire-By-Hash')).toBe('yes');
    expect(field(p!, 'SHA256')).toBe(
      [
        '',
        ' ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  3 main/binary-amd64/Packages',
        ' d682ed4ca4d989c134ec94f1551e1ec580dd6d5a6ecde9f3d35e6e4a717fbde4 12 main/binary-amd64/Packages.gz',
      ].join('\n'),
    );
    expect(field(p!, 'MD5Sum')).toContain(' 900150983cd24fb0d6963f7d28e17f72  3 main/binary-amd64/Packages');
  });
});

describe('.sources', () => {
  it('points Signed-By at the keyring under /etc/apt/keyrings, where the first-time setup puts it', () => {
    const [p] = parseParagraphs(
      renderSources({ name: 'eb', uri: 'http://127.0.0.1:8080/', suite: 'stable', component: 'main' })
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n'),
    );
    expect(p).toEqual([
      ['Types', 'deb'],
      ['URIs', 'http://127.0.0.1:8080/'],
      ['Suites', 'stable'],
      ['Components', 'main'],
      ['Signed-By', '/etc/apt/keyrings/eb-archive-keyring.gpg'],
    ]);
  });

  it('uses a placeholder, said so in a comment, when no URI is given', () => {
    const text = renderSources({ name: 'eb', suite: 'stable', component: 'main' });
    expect(text).toMatch(/^URIs: https:\/\/apt\.example\.invalid\/$/m);
    expect(text).toMatch(/^# And replace the URIs line/m);
  });
});

describe('binary key check', () => {
  it('accepts a public-key packet in old and new format, refuses armor and keybox', () => {
    expect(isBinaryPublicKey(Buffer.from([0x98, 0x33]))).toBe(true); // old format, tag 6
    expect(isBinaryPublicKey(Buffer.from([0xc6, 0x33]))).toBe(true); // new format, tag 6
    expect(isBinaryPublicKey(Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----'))).toBe(false);
    expect(isBinaryPublicKey(Buffer.from([0, 0, 0, 0x20, 1, 1, 0, 0, 0x4b, 0x42, 0x58, 0x66]))).toBe(false); // keybox header
    expect(isBinaryPublicKey(Buffer.from([0x99, 0x00]))).toBe(true);
    expect(isBinaryPublicKey(Buffer.from([0x88, 0x00]))).toBe(false); // a signature packet first
    expect(isBinaryPublicKey(Buffer.alloc(0))).toBe(false);
  });
});
