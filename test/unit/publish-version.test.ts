// Debian version order (as dpkg sorts) and `build --bump`: the next semver after what a repository holds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { semverFromDebian } from '../../pipeline/pack/debian-version.ts';
import { compareDebianVersions } from '../../pipeline/publish/version-order.ts';
import { nextVersion, publishedVersions } from '../../pipeline/publish/next-version.ts';
import { VERSION_PAIRS } from './publish-version-pairs.ts';

describe('compareDebianVersions', () => {
  it.each(VERSION_PAIRS)('%s vs %s is %i', (a, b, want) => {
    expect(compareDebianVersions(a, b)).toBe(want);
    expect(compareDebianVersions(b, a)).toBe(-want || 0);
  });
});

describe('semverFromDebian', () => {
  it("undoes the build's semver mapping and ignores what is not semver", () => {
    expect(semverFromDebian('1.4.0')).toBe('1.4.0');
    expect(semverFromDebian('1.4.0~rc.1')).toBe('1.4.0-rc.1');
    expect(semverFromDebian('2:1.4.0-3')).toBe('1.4.0');
    expect(semverFromDebian('1.4')).toBeUndefined();
    expect(semverFromDebian('20240101')).toBeUndefined();
  });
});

describe('nextVersion', () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-next-version-'));
  afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
    fs.writeFileSync(path.join(repo, rel), text);
  };
  write(
    'dists/stable/main/binary-amd64/Packages',
    [
      'Package: eb\nVersion: 1.9.0\nArchitecture: amd64\n',
      'Package: eb\nVersion: 1.10.0\nArchitecture: amd64\n',
      'Package: eb-image-1.10.0\nVersion: 1.10.0\nArchitecture: amd64\n',
      'Package: other\nVersion: 7.0.0\nArchitecture: all\n',
      'Package: pre\nVersion: 2.0.0~rc.1\nArchitecture: all\n',
    ].join('\n'),
  );
  // Another suite counts too: a version is never handed out twice.
  write('dists/testing/main/binary-arm64/Packages', 'Package: eb\nVersion: 1.10.1~rc.2\nArchitecture: arm64\n');
  // by-hash copies are not read (they may be older generations).
  write('dists/stable/main/binary-amd64/by-hash/SHA256/00/Packages', 'Package: eb\nVersion: 9.0.0\nArchitecture: amd64\n');

  it('lists the semver versions of one package, highest first', () => {
    expect(publishedVersions(repo, 'eb')).toEqual(['1.10.1-rc.2', '1.10.0', '1.9.0']);
  });

  it('bumps the highest by semver precedence', () => {
    expect(nextVersion(repo, 'eb', 'patch')).toBe('1.10.1');
    expect(nextVersion(repo, 'eb', 'minor')).toBe('1.11.0');
    expect(nextVersion(repo, 'eb', 'major')).toBe('2.0.0');
    expect(nextVersion(repo, 'pre', 'patch')).toBe('2.0.0');
  });

  it('counts from 0.0.0 for a package the repository does not have', () => {
    expect(nextVersion(repo, 'absent', 'minor')).toBe('0.1.0');
    expect(nextVersion(path.join(repo, 'no-such-dir'), 'eb', 'major')).toBe('1.0.0');
  });
});
