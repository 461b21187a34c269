#!/bin/sh
# Prints the release version for a git tag: the tag without one leading "v", which must be a
# semantic version as the npm semver package reads it (1.4.0, 1.4.0-rc.1). Anything else is
# refused with exit 2, so a stray tag such as "release-5" or "v1.4" never builds or publishes.
# Build metadata (1.4.0+build.7) is refused too: Debian versions have no place for it, and two
# tags differing only there would publish the same package version twice.
# Usage: sh scripts/ci/version-from-tag.sh "$CI_COMMIT_TAG"
set -eu
cd "$(dirname "$0")/../.."

tag=${1-}
if [ -z "$tag" ]; then
	echo "version-from-tag: no tag given (CI_COMMIT_TAG is empty: the release jobs run for tags only)" >&2
	exit 2
fi
version=${tag#v}
case "$version" in
*+*)
	echo "version-from-tag: tag '$tag' carries build metadata (+...); tag releases as v<major>.<minor>.<patch>[-<pre-release>]" >&2
	exit 2
	;;
esac
# semver prints the normalised version; it must be the tag itself, not a cleaned-up variant
# (semver accepts "=1.4.0" and would print 1.4.0).
normalised=$(npx --no-install semver -- "$version" 2>/dev/null || true)
if [ -z "$normalised" ] || [ "$normalised" != "$version" ]; then
	echo "version-from-tag: tag '$tag' is not a semantic version; tag releases as v1.4.0 or v1.4.0-rc.1" >&2
	exit 2
fi
printf '%s\n' "$version"
