#!/bin/sh
# The `build` job's build of a release: RECIPE as VERSION into OUT, from a cache directory made
# for this job alone and removed when it ends, also on failure. Nothing another job left on the
# runner (a bootstrap, an overlay tree, a mirror index) can go into what is signed and released.
# A build job that sees the signing key refuses to run: the key belongs to the `pages` job alone
# (scope APT_SIGNING_KEY to the apt-signing environment, docs/release-ci.md).
# With ARCH, builds for that architecture (`build --architecture`), whatever the recipe says.
# Reads: EB_BUILD_FLAGS (more `build` flags, e.g. --verbose).
# Usage: sh scripts/ci/build-release.sh RECIPE VERSION OUT [ARCH]
set -eu

die() {
	echo "build-release: $*" >&2
	exit 1
}

[ "$#" -eq 3 ] || [ "$#" -eq 4 ] || die "usage: build-release.sh RECIPE VERSION OUT [ARCH]"
[ -z "${APT_SIGNING_KEY-}" ] || die "APT_SIGNING_KEY reached the build job: scope the variable to the environment apt-signing (Settings > CI/CD > Variables), so that only the pages job gets it"

cache=$(mktemp -d "${TMPDIR:-/tmp}/eb-release-cache.XXXXXX")
# --one-file-system: should a failed build leave something mounted below, rm stays out of it.
trap 'rm -rf --one-file-system "$cache"' EXIT
trap 'exit 130' INT TERM HUP
echo "build-release: building $1 as $2${4:+ for $4} from an empty cache, $cache"
# shellcheck disable=SC2086 # EB_BUILD_FLAGS is a list of flags
npx ephemeral-builder build "$1" --version "$2" ${4:+--architecture "$4"} --out "$3" --cache-dir "$cache" ${EB_BUILD_FLAGS-}
