// `build --bump patch|minor|major --repo DIR`: the next version after the highest one of a package
// in the repository's indexes, by semver precedence. Reads every Packages file of every suite, so a
// version published to any suite is never handed out twice.
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { field, parseParagraphs } from './deb822.ts';
import { semverFromDebian } from '../pack/debian-version.ts';

export type Bump = 'patch' | 'minor' | 'major';

/** Every Packages file below dists/ (uncompressed ones: publish always writes them). */
function packagesFiles(repoDir: string): string[] {
  const dists = path.join(repoDir, 'dists');
  if (!fs.existsSync(dists)) return [];
  return fs
    .readdirSync(dists, { recursive: true, encoding: 'utf8' })
    .filter((rel) => path.basename(rel) === 'Packages' && !rel.split(path.sep).includes('by-hash'))
    .map((rel) => path.join(dists, rel));
}

/** The semver versions of a package present in the repository, highest first. */
export function publishedVersions(repoDir: string, packageName: string): string[] {
  const found = new Set<string>();
  for (const file of packagesFiles(repoDir)) {
    for (const p of parseParagraphs(fs.readFileSync(file, 'utf8'))) {
      if (field(p, 'Package') !== packageName) continue;
      const v = semverFromDebian(field(p, 'Version') ?? '');
      if (v) found.add(v);
    }
  }
  return [...found].sort(semver.rcompare);
}

/**
 * The next version: the highest published one bumped. A pre-release bumps to its release
 * (1.4.0-rc.1 + patch = 1.4.0), as semver defines. With nothing published it counts from 0.0.0.
 */
export function nextVersion(repoDir: string, packageName: string, bump: Bump): string {
  const highest = publishedVersions(repoDir, packageName)[0] ?? '0.0.0';
  const next = semver.inc(highest, bump);
  if (!next) throw new Error(`cannot bump ${highest} by ${bump}`);
  return next;
}
