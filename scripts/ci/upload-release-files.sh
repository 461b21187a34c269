#!/bin/sh
# The `release` job's upload: puts the files a host without apt needs (the tarball, install.sh,
# SHA256SUMS) and the repository's public key into the project's generic package registry, under
# PACKAGE_NAME/VERSION, where the release's asset links point. The keyring is exported from the
# signing key exactly as `ephemeral-builder publish` exports it, so it is the same file the apt
# repository serves. Reads: CI_API_V4_URL, CI_PROJECT_ID, CI_JOB_TOKEN (GitLab), APT_SIGNING_KEY
# (see scripts/ci/gnupg-home.sh) and release.env (PACKAGE_NAME, VERSION, TARBALL).
set -eu

: "${PACKAGE_NAME:?PACKAGE_NAME is not set: the release.env dotenv of the build job did not reach this job}"
: "${VERSION:?VERSION is not set: the release.env dotenv of the build job did not reach this job}"
: "${TARBALL:?TARBALL is not set: the release.env dotenv of the build job did not reach this job}"
: "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}" "${CI_JOB_TOKEN:?}"

gnupg=$(mktemp -d)
cleanup() {
	gpgconf --homedir "$gnupg" --kill all >/dev/null 2>&1 || true
	rm -rf "$gnupg"
}
trap cleanup EXIT INT TERM
sh scripts/ci/gnupg-home.sh "$gnupg" >/dev/null
keyring="$PACKAGE_NAME-archive-keyring.gpg"
cp "$gnupg/keyring.gpg" "out/$keyring"

registry="$CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/$PACKAGE_NAME/$VERSION"
for file in "$TARBALL" install.sh SHA256SUMS "$keyring"; do
	echo "upload-release-files: $file -> $registry/$file"
	curl --fail-with-body --silent --show-error --retry 3 --header "JOB-TOKEN: $CI_JOB_TOKEN" \
		--upload-file "out/$file" "$registry/$file"
	echo
done
