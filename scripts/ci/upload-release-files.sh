#!/bin/sh
# The `release` job's upload: puts what a host without apt needs (the tarball, install.sh,
# SHA256SUMS and its signature SHA256SUMS.asc, the release keyring install.sh checks it with), the
# manifest (what `outdated` and `diff` read) and the SBOMs the build left (out/*.cdx.json, when there are any) into the project's generic package
# registry, under PACKAGE_NAME/VERSION, where the release's links point. The keyring is the one
# the repository publishes (public/, from the pages job), so this job needs no key. Prints the
# uploaded names, one a line, for scripts/ci/create-release.sh.
# Reads: CI_API_V4_URL, CI_PROJECT_ID, CI_JOB_TOKEN (GitLab) and release.env (PACKAGE_NAME,
# VERSION, TARBALL).
set -eu

die() {
	echo "upload-release-files: $*" >&2
	exit 1
}

: "${PACKAGE_NAME:?PACKAGE_NAME is not set: the release.env dotenv of the build job did not reach this job}"
: "${VERSION:?VERSION is not set: the release.env dotenv of the build job did not reach this job}"
: "${TARBALL:?TARBALL is not set: the release.env dotenv of the build job did not reach this job}"
: "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}" "${CI_JOB_TOKEN:?}"

keyring="$PACKAGE_NAME-archive-keyring.gpg"
[ -f "public/$keyring" ] || die "public/$keyring is missing: the pages job's artifacts did not reach this job"
[ -f out/SHA256SUMS.asc ] || die "out/SHA256SUMS.asc is missing: the pages job signs SHA256SUMS, and its artifacts did not reach this job"
cp "public/$keyring" "out/$keyring"

set -- "$TARBALL" install.sh SHA256SUMS SHA256SUMS.asc "$keyring" manifest.json
for sbom in out/*.cdx.json; do
	if [ -f "$sbom" ]; then set -- "$@" "${sbom#out/}"; fi
done
registry="$CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/$PACKAGE_NAME/$VERSION"
for file in "$@"; do
	echo "upload-release-files: $file -> $registry/$file" >&2
	curl --fail-with-body --silent --show-error --retry 3 --header "JOB-TOKEN: $CI_JOB_TOKEN" \
		--upload-file "out/$file" "$registry/$file" >&2
	echo >&2
	printf '%s\n' "$file"
done
