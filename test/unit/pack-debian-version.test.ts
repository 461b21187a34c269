// semver → Debian version: checked against the real dpkg (--compare-versions, --validate-*), so a
// mapping that sorted a release candidate after its release would fail here.
import { execaSync } from 'execa';
import semver from 'semver';
import { expect, it } from 'vitest';
import { RecipeError } from '../../pipeline/errors.ts';
import { artifactNames, debianVersion, imagePackageName } from '../../pipeline/pack/debian-version.ts';
import { describeWith } from '../helpers/env.ts';

/** Ascending in semver precedence (the semver spec's own example chain included). */
const ASCENDING = [
  '0.9.0',
  '1.0.0-alpha',
  '1.0.0-alpha.1',
  '1.0.0-alpha.beta',
  '1.0.0-beta',
  '1.0.0-beta.2',
  '1.0.0-beta.11',
  '1.0.0-rc.1',
  '1.0.0',
  '1.0.1',
  '1.4.0-0',
  '1.4.0-alpha',
  '1.4.0-beta',
  '1.4.0-rc.1',
  '1.4.0-rc.2',
  '1.4.0-rc.10',
  '1.4.0',
  '1.4.1',
  '1.10.0',
  '2.0.0-0.3.7',
  '2.0.0-x.7.z.92',
  '2.0.0',
  '10.0.0',
];

/** Same precedence for semver.compare; build metadata orders them for semver.compareBuild. */
const BUILDS = ['1.4.0', '1.4.0+build.1', '1.4.0+build.2', '1.4.0+build.10', '1.4.0+exp.sha.5114f85'];

/** Every "a < b" of the list, asked of dpkg in one shell run (one fork per pair is slow). */
function dpkgLess(pairs: [string, string][]): boolean[] {
  const script = pairs.map(([a, b]) => `dpkg --compare-versions '${a}' lt '${b}' && echo 1 || echo 0`).join('\n');
  const out = execaSync('sh', ['-c', script]).stdout.trim().split('\n');
  return out.map((l) => l === '1');
}

it('maps the pre-release separator to "~" and keeps build metadata', () => {
  expect(debianVersion('1.4.0')).toBe('1.4.0');
  expect(debianVersion('1.4.0-rc.1')).toBe('1.4.0~rc.1');
  expect(debianVersion('1.4.0+b2')).toBe('1.4.0+b2');
  expect(debianVersion('1.4.0-rc.1+b2')).toBe('1.4.0~rc.1+b2');
});

it('refuses what dpkg would read as a Debian revision, and what is not semver', () => {
  expect(() => debianVersion('1.4.0-alpha-1')).toThrow(RecipeError);
  expect(() => debianVersion('1.4.0+git-abc')).toThrow(/build metadata/);
  expect(() => debianVersion('1.4')).toThrow(/not a semantic version/);
  expect(() => imagePackageName('eb', '1.4.0-RC.1')).toThrow(/lowercase/);
});

it('names the artifacts', () => {
  expect(artifactNames('ephemeral-builder', '1.4.0-rc.1', 'amd64')).toEqual({
    imagePackage: 'ephemeral-builder-image-1.4.0-rc.1',
    hostPackage: 'ephemeral-builder',
    debianVersion: '1.4.0~rc.1',
    imageDeb: 'ephemeral-builder-image-1.4.0-rc.1_1.4.0~rc.1_amd64.deb',
    hostDeb: 'ephemeral-builder_1.4.0~rc.1_amd64.deb',
    tarball: 'ephemeral-builder-1.4.0-rc.1-amd64.tar.zst',
    sbom: 'ephemeral-builder-1.4.0-rc.1-amd64.cdx.json',
  });
});

describeWith({ tools: ['dpkg'] }, 'against the real dpkg', () => {
  it('keeps the order of semver.compare for every pair of the table', () => {
    const pairs: [string, string][] = [];
    for (const a of ASCENDING) for (const b of ASCENDING) if (a !== b) pairs.push([a, b]);
    const dpkg = dpkgLess(pairs.map(([a, b]) => [debianVersion(a), debianVersion(b)]));
    const wrong = pairs.filter(([a, b], i) => dpkg[i] !== semver.compare(a, b) < 0).map(([a, b]) => `${a} vs ${b}`);
    expect(wrong).toEqual([]);
    // The table really is ascending for semver, so the check above compares something.
    expect([...ASCENDING].sort(semver.compare)).toEqual(ASCENDING);
  });

  it('orders build metadata as semver.compareBuild does', () => {
    const pairs: [string, string][] = [];
    for (const a of BUILDS) for (const b of BUILDS) if (a !== b) pairs.push([a, b]);
    const dpkg = dpkgLess(pairs.map(([a, b]) => [debianVersion(a), debianVersion(b)]));
    const wrong = pairs.filter(([a, b], i) => dpkg[i] !== semver.compareBuild(a, b) < 0).map(([a, b]) => `${a} vs ${b}`);
    expect(wrong).toEqual([]);
  });

  it('sorts a release candidate before its release (the reason for "~")', () => {
    expect(
      dpkgLess([
        ['1.4.0~rc.1', '1.4.0'],
        ['1.4.0-rc.1', '1.4.0'],
      ]),
    ).toEqual([true, false]);
  });

  it('compares digits inside an identifier as numbers, where semver compares them as text', () => {
    // A known, accepted difference: dpkg gives the order people expect (rc9 < rc10).
    expect(semver.compare('1.4.0-rc9', '1.4.0-rc10')).toBe(1);
    expect(dpkgLess([[debianVersion('1.4.0-rc9'), debianVersion('1.4.0-rc10')]])).toEqual([true]);
  });

  it('produces versions and package names dpkg accepts', () => {
    for (const v of [...ASCENDING, ...BUILDS, '1.4.0-rc.1+b2']) {
      expect(execaSync('dpkg', ['--validate-version', debianVersion(v)], { reject: false }).exitCode, v).toBe(0);
      expect(execaSync('dpkg', ['--validate-pkgname', imagePackageName('ephemeral-builder', v)], { reject: false }).exitCode, v).toBe(0);
    }
  });
});
