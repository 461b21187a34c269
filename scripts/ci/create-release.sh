#!/bin/sh
# The `release` job's GitLab release, made with the Releases API (curl and jq; release-cli is
# deprecated): tag CI_COMMIT_TAG (or, for a scheduled rebuild, vVERSION, made at CI_COMMIT_SHA),
# named "PACKAGE_NAME VERSION", with a link to each file given (in the generic package registry,
# where scripts/ci/upload-release-files.sh put them) and one to the apt repository. The
# description says how to verify the checksums' signature, after the build's release notes
# (out/release-notes.md: what a scheduled rebuild fixed, and what changed) when there are any.
# Reads: CI_API_V4_URL, CI_PROJECT_ID, CI_JOB_TOKEN, CI_COMMIT_TAG or CI_COMMIT_SHA, CI_PAGES_URL
# (GitLab) and release.env (PACKAGE_NAME, VERSION). The tarballs (FILEs ending .tar.zst, one per
# architecture) are linked as the release's packages.
# Usage: sh scripts/ci/create-release.sh FILE...
set -eu

die() {
	echo "create-release: $*" >&2
	exit 1
}

: "${PACKAGE_NAME:?PACKAGE_NAME is not set: the release.env dotenv of the build job did not reach this job}"
: "${VERSION:?VERSION is not set: the release.env dotenv of the build job did not reach this job}"
: "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}" "${CI_JOB_TOKEN:?}"
tag=${CI_COMMIT_TAG:-v$VERSION}
# A tag that does not exist yet (a scheduled rebuild's) is made where the pipeline ran.
ref=
[ -n "${CI_COMMIT_TAG-}" ] || ref=${CI_COMMIT_SHA:?CI_COMMIT_SHA is not set: a release without a tag is made at the commit of the pipeline}
[ "$#" -gt 0 ] || die "usage: create-release.sh FILE..."

registry="$CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/$PACKAGE_NAME/$VERSION"
keyring="$PACKAGE_NAME-archive-keyring.gpg"
site=${CI_PAGES_URL:-the Pages site of the project}
notes=
[ ! -f out/release-notes.md ] || notes="$(cat out/release-notes.md)

"
tarball="$PACKAGE_NAME-$VERSION-ARCH.tar.zst"
description="${notes}Install with apt from $site (first-time setup: docs/host-admin.md), or without apt: download $tarball for the host's architecture (\`dpkg --print-architecture\`), install.sh, SHA256SUMS, SHA256SUMS.asc and $keyring, check the signature (\`gpgv --keyring ./$keyring SHA256SUMS.asc SHA256SUMS\`, or \`sqv\`, and compare the key's fingerprint with the one the project publishes), then run \`sh install.sh install --fingerprint FINGERPRINT $tarball\`."
payload=$(jq -n --arg tag "$tag" --arg ref "$ref" --arg name "$PACKAGE_NAME $VERSION" --arg description "$description" \
	--arg registry "$registry" --arg pages "${CI_PAGES_URL-}" '{
		tag_name: $tag, name: $name, description: $description,
		assets: { links: ([$ARGS.positional[] | { name: ., url: "\($registry)/\(.)", link_type: (if endswith(".tar.zst") then "package" else "other" end) }]
			+ (if $pages == "" then [] else [{ name: "apt repository", url: $pages, link_type: "other" }] end)) }
	} + (if $ref == "" then {} else { ref: $ref } end)' --args "$@")

answer=$(mktemp)
trap 'rm -f "$answer"' EXIT
code=$(curl --silent --show-error --retry 3 --output "$answer" --write-out '%{http_code}' \
	--header "JOB-TOKEN: $CI_JOB_TOKEN" --header 'Content-Type: application/json' --data "$payload" \
	"$CI_API_V4_URL/projects/$CI_PROJECT_ID/releases") || die "cannot reach $CI_API_V4_URL (curl failed)"
case "$code" in
201) echo "create-release: made the release $tag with $# files: $*" ;;
409) die "the release $tag exists already (HTTP 409: $(cat "$answer")); delete it (Deploy > Releases) and run this job again" ;;
*) die "the Releases API answered HTTP $code: $(cat "$answer")" ;;
esac
