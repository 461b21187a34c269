#!/bin/sh
# The `rebuild` job of a scheduled pipeline: asks `ephemeral-builder outdated` whether the latest
# release (the manifest.json the Pages site serves beside its repository) has packages that its
# sources now have newer. Nothing behind: prints REBUILD=no and ends green, and the pipeline only
# signs the repository again. Something behind: builds RECIPE as the next patch version after the
# highest one the repository holds (never one already published), from an empty cache as a tag's
# build does, writes OUT/release-notes.md (what was behind, and the `diff` against the previous
# release) and prints the release dotenv with REBUILD=yes for the pages and release jobs.
# With ARCH, builds for that architecture: each job of the rebuild matrix asks about the same
# manifest (the one the site serves, of the release's first architecture) against the same
# sources, so all of them rebuild, or none.
# Reads: APT_REPO_URL or CI_PAGES_URL (the site), APT_SUITE, EB_LATEST_MANIFEST (default
# SITE/manifest.json), EB_OUTDATED_FLAGS (e.g. --rewrite for a local mirror), EB_BUILD_FLAGS.
# Usage: sh scripts/ci/rebuild-if-outdated.sh RECIPE OUT [ARCH] >release.env
set -eu

die() {
	echo "rebuild-if-outdated: $*" >&2
	exit 1
}

[ "$#" -eq 2 ] || [ "$#" -eq 3 ] || die "usage: rebuild-if-outdated.sh RECIPE OUT [ARCH]"
recipe=$1
out=$2
arch=${3-}
site=${APT_REPO_URL:-${CI_PAGES_URL-}}
case "$site" in '' | none) die "neither APT_REPO_URL nor CI_PAGES_URL says where the released repository is served" ;; esac
latest=${EB_LATEST_MANIFEST:-${site%/}/manifest.json}

work=$(mktemp -d "${TMPDIR:-/tmp}/eb-rebuild.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

status=0
# shellcheck disable=SC2086 # EB_OUTDATED_FLAGS is a list of flags
npx ephemeral-builder outdated "$latest" ${EB_OUTDATED_FLAGS-} --output "$work/outdated.txt" || status=$?
case "$status" in
0)
	cat "$work/outdated.txt" >&2
	echo "rebuild-if-outdated: the latest release is current; nothing to build" >&2
	echo "REBUILD=no"
	exit 0
	;;
1) cat "$work/outdated.txt" >&2 ;;
*) die "outdated failed (exit $status) for $latest: see above" ;;
esac

# The previous release's manifest, for the release notes' diff.
case "$latest" in
http://* | https://*) curl --fail --silent --show-error --retry 3 --output "$work/previous.json" "$latest" || die "cannot download $latest" ;;
*) cp "$latest" "$work/previous.json" ;;
esac
# The highest version the repository holds, whatever suite: the next one is never a published one.
sh scripts/ci/fetch-apt-repo.sh "$site" "$work/repo" "${APT_SUITE:-stable}" >&2
version=$(npx ephemeral-builder build "$recipe" ${arch:+--architecture "$arch"} --bump patch --repo "$work/repo" --dry-run --json --cache-dir "$work/plan-cache" |
	jq -r 'select(.event == "plan") | .plan.recipe.version')
case "$version" in '' | null) die "cannot work out the next version from $site" ;; esac
echo "rebuild-if-outdated: building $recipe as $version" >&2
sh scripts/ci/build-release.sh "$recipe" "$version" "$out" ${arch:+"$arch"} >&2

{
	echo "Rebuilt on schedule: packages of the previous release had newer versions in its sources."
	echo
	echo '```'
	cat "$work/outdated.txt"
	echo '```'
	echo
	npx ephemeral-builder diff "$work/previous.json" "$out/manifest.json"
} >"$out/release-notes.md"
sh scripts/ci/release-env.sh "$out" "$version"
echo "REBUILD=yes"
