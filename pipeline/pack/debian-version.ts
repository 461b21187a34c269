// Semantic version → Debian version and back, and the package names derived from it.
// Reads: name, version.
//
// semver puts a pre-release before its release (1.4.0-rc.1 < 1.4.0); dpkg only does that for a
// tilde, so the first "-" becomes "~" (1.4.0~rc.1 < 1.4.0). Build metadata keeps its "+".
// The mapping keeps semver's order for the usual shapes (numeric or alphabetic identifiers:
// rc.1, alpha.2, beta). Where semver's own rule is lexical on mixed identifiers (rc9 > rc10),
// dpkg compares the digits as numbers (rc9 < rc10); tests pin both behaviours.
import semver from 'semver';
import { RecipeError } from '../errors.ts';
import { parseDebianVersion } from '../publish/version-order.ts';

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/;

/** `1.4.0-rc.1+b2` → `1.4.0~rc.1+b2`. Throws RecipeError for what dpkg would read differently. */
export function debianVersion(semver: string): string {
  const m = SEMVER.exec(semver);
  if (!m) throw new RecipeError(`version: "${semver}" is not a semantic version such as 1.4.0 or 1.4.0-rc.1`);
  const [, major, minor, patch, pre, build] = m;
  // dpkg splits a version at its last "-" into upstream version and Debian revision, so a hyphen
  // inside the pre-release or build part would silently change how the version sorts.
  for (const [part, what] of [
    [pre, 'pre-release'],
    [build, 'build metadata'],
  ] as const) {
    if (part?.includes('-')) {
      throw new RecipeError(
        `version: "${semver}" has a "-" inside its ${what} ("${part}"); dpkg would read it as a Debian revision`,
        'separate identifiers with "." instead, e.g. 1.4.0-rc.1',
      );
    }
  }
  return `${major}.${minor}.${patch}${pre ? `~${pre}` : ''}${build ? `+${build}` : ''}`;
}

/**
 * The semver a Debian version was made from, or undefined when it was not made from one.
 * The build maps a semver pre-release `-` to `~`, so a `-` left in a Debian version is a
 * Debian revision and is dropped, as is an epoch.
 */
export function semverFromDebian(debVersion: string): string | undefined {
  const { upstream } = parseDebianVersion(debVersion);
  const candidate = upstream.replace('~', '-');
  return semver.valid(candidate) ?? undefined;
}

/** Each image version is its own package (as kernels are), so several stay installed side by side. */
export function imagePackageName(name: string, semver: string): string {
  const pkg = `${name}-image-${semver}`;
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(pkg)) {
    throw new RecipeError(`version: "${semver}" cannot be part of the Debian package name "${pkg}" (only lowercase letters, digits, "+", "-" and ".")`);
  }
  return pkg;
}

/** The host package is named after the recipe. */
export function hostPackageName(name: string): string {
  return name;
}

/** Where the image package puts the root filesystem on a host. */
export function imageDir(name: string, semver: string): string {
  return `/usr/lib/${name}/images/${semver}`;
}

export interface ArtifactNames {
  imagePackage: string;
  hostPackage: string;
  debianVersion: string;
  imageDeb: string;
  hostDeb: string;
  tarball: string;
  /** The image's CycloneDX SBOM. */
  sbom: string;
}

/** The file names in OUT. */
export function artifactNames(name: string, semver: string, arch: string): ArtifactNames {
  const debver = debianVersion(semver);
  const imagePackage = imagePackageName(name, semver);
  const hostPackage = hostPackageName(name);
  return {
    imagePackage,
    hostPackage,
    debianVersion: debver,
    imageDeb: `${imagePackage}_${debver}_${arch}.deb`,
    hostDeb: `${hostPackage}_${debver}_${arch}.deb`,
    tarball: `${name}-${semver}-${arch}.tar.zst`,
    sbom: `${name}-${semver}-${arch}.cdx.json`,
  };
}
