#!/bin/sh
# The `release` job's upload: puts what a host without apt needs (the tarball of every
# architecture, install.sh, SHA256SUMS and its signature SHA256SUMS.asc, the release keyring
# install.sh checks it with), the manifests (what `outdated` and `diff` read) and the SBOMs into
# the project's generic package registry, under PACKAGE_NAME/VERSION, where the release's links
# point. The files are the release's as scripts/ci/release-set.sh lays them out from every
# architecture's build (each in out/ARCH), which must be the ones the SHA256SUMS that the pages
# job signed lists: the release holds every architecture in ARCHITECTURES, or nothing is
# uploaded. The keyring is the one the repository publishes (public/, from the pages job), so
# this job needs no key. Prints the uploaded names, one a line, for scripts/ci/create-release.sh.
# Reads: CI_API_V4_URL, CI_PROJECT_ID, CI_JOB_TOKEN (GitLab), ARCHITECTURES and release.env
# (PACKAGE_NAME, VERSION).
set -eu
here=$(dirname "$0")

die() {
	echo "upload-release-files: $*" >&2
	exit 1
}

: "${PACKAGE_NAME:?PACKAGE_NAME is not set: the release.env dotenv of the build job did not reach this job}"
: "${VERSION:?VERSION is not set: the release.env dotenv of the build job did not reach this job}"
: "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}" "${CI_JOB_TOKEN:?}"

keyring="$PACKAGE_NAME-archive-keyring.gpg"
[ -f "public/$keyring" ] || die "public/$keyring is missing: the pages job's artifacts did not reach this job"
for f in SHA256SUMS SHA256SUMS.asc; do
	[ -f "out/$f" ] || die "out/$f is missing: the pages job writes and signs SHA256SUMS, and its artifacts did not reach this job"
done
files=$(sh "$here/release-set.sh" out "$VERSION") || die "not releasing $PACKAGE_NAME $VERSION: nothing was uploaded"
cp "public/$keyring" "out/$keyring"

# The tarballs first (the release's packages), the .debs not: apt takes them from the repository.
# shellcheck disable=SC2046 # the names are the release's own files, without spaces
set -- $(printf '%s\n' "$files" | grep '\.tar\.zst$') SHA256SUMS SHA256SUMS.asc "$keyring" $(printf '%s\n' "$files" | grep -v -e '\.tar\.zst$' -e '\.deb$')
registry="$CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/$PACKAGE_NAME/$VERSION"
for file in "$@"; do
	echo "upload-release-files: $file -> $registry/$file" >&2
	curl --fail-with-body --silent --show-error --retry 3 --header "JOB-TOKEN: $CI_JOB_TOKEN" \
		--upload-file "out/$file" "$registry/$file" >&2
	echo >&2
	printf '%s\n' "$file"
done
