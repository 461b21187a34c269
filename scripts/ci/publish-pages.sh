#!/bin/sh
# The `pages` job: adds this release's two .deb packages to the apt repository served by GitLab
# Pages and leaves the whole repository in public/, which GitLab then deploys. Pages keeps only
# its latest deployment, so the repository published so far is first copied back from the site
# (scripts/ci/fetch-apt-repo.sh, signature checked): every earlier version stays installable.
#
# Reads (CI/CD variables and the build job's dotenv):
#   APT_SIGNING_KEY       the signing key (File variable; see scripts/ci/gnupg-home.sh)
#   APT_SIGNING_KEY_ID    optional: which key, when the variable holds several
#   APT_REPO_URL          where the current repository is served; default CI_PAGES_URL.
#                         "none" starts an empty repository (only ever for the very first release)
#   APT_PREVIOUS_KEYRING  optional: the keyring the current site is signed with, after a key change
#   APT_SUITE, APT_COMPONENT   default stable and main
#   HOST_DEB, IMAGE_DEB   the packages in out/ (from release.env)
set -eu

die() {
	echo "publish-pages: $*" >&2
	exit 1
}

: "${HOST_DEB:?HOST_DEB is not set: the release.env dotenv of the build job did not reach this job}"
: "${IMAGE_DEB:?IMAGE_DEB is not set: the release.env dotenv of the build job did not reach this job}"
suite=${APT_SUITE:-stable}
component=${APT_COMPONENT:-main}
from=${APT_REPO_URL:-${CI_PAGES_URL-}}
[ -n "$from" ] || die "neither APT_REPO_URL nor CI_PAGES_URL is set, so the published repository cannot be carried over (set APT_REPO_URL=none for the first release only)"
# What the example .sources file points apt at: the Pages site.
served=${CI_PAGES_URL:-$from}
[ "$served" != none ] || served=

gnupg=$(mktemp -d)
cleanup() {
	gpgconf --homedir "$gnupg" --kill all >/dev/null 2>&1 || true
	rm -rf "$gnupg"
}
trap cleanup EXIT INT TERM
fingerprint=$(sh scripts/ci/gnupg-home.sh "$gnupg")
echo "publish-pages: signing with $fingerprint"

rm -rf public
if [ "$from" = none ]; then
	echo "publish-pages: APT_REPO_URL=none: starting an empty repository"
	mkdir public
else
	sh scripts/ci/fetch-apt-repo.sh "$from" public "$suite" "${APT_PREVIOUS_KEYRING:-$gnupg/keyring.gpg}"
fi

npx ephemeral-builder publish --repo public --suite "$suite" --component "$component" \
	--gnupg-home "$gnupg" --sign-key "$fingerprint" ${served:+--uri "$served"} \
	"out/$HOST_DEB" "out/$IMAGE_DEB"
