// Semantic version checks, through the semver package.
import semver from 'semver';

export function isValidSemver(v: string): boolean {
  return semver.valid(v) === v;
}
