#!/bin/sh
# The `pages` job, the one job that gets the signing key. On a protected tag (or when the schedule
# rebuilt the image, REBUILD=yes) it adds the release's .deb packages, the host and image package
# of every architecture in ARCHITECTURES, to the apt repository served by GitLab Pages in one
# update, serves the release's manifest.json beside it (what the schedule's `outdated` checks next
# time), and signs the release's SHA256SUMS, which covers every architecture (out/SHA256SUMS and
# out/SHA256SUMS.asc, published beside it by the release job). Before anything else, before the
# key, it refuses a release that lacks an architecture or holds an incomplete build of one
# (scripts/ci/release-set.sh): a release is published for every listed architecture or not at all.
# In a schedule with nothing new it signs the repository again,
# with a new Valid-Until. Either way it prunes the
# repository to APT_KEEP releases, keeps its keyring package current (with APT_NEXT_KEYRING), and
# leaves the whole repository in public/, which GitLab deploys only when this job succeeds: a
# failed publish leaves the previous repository served. Pages keeps only its latest deployment, so
# the repository published so far is first copied back from the site (scripts/ci/fetch-apt-repo.sh,
# signature checked): every kept version stays installable.
#
# The key is imported into a temporary GnuPG home (scripts/ci/gnupg-home.sh) that is removed when
# the job ends, also when it fails or is cancelled.
#
# Reads (CI/CD variables and the build job's dotenv):
#   APT_SIGNING_KEY       the signing key (File, protected, scoped to the environment apt-signing)
#   APT_SIGNING_KEY_ID    optional: which key, when the variable holds several
#   APT_NEXT_KEYRING      optional, File: the public key of the next signing key
#   APT_PREVIOUS_KEYRING  optional, File: the public key that signed the site, right after a rotation
#   APT_REPO_URL          where the current repository is served; default CI_PAGES_URL.
#                         "none" starts an empty repository (only ever for the very first release)
#   APT_SUITE, APT_COMPONENT   default stable and main
#   APT_VALID_FOR         how long a signature of the repository holds (default 21d)
#   APT_KEEP, APT_MAX_SIZE     optional: releases to keep, and the size the repository must not grow beyond
#   ARCHITECTURES         the architectures the release holds, each built into out/ARCH
#   CI_COMMIT_TAG, REBUILD   a tag, or REBUILD=yes: publish the build of VERSION (release.env) in
#                         out/ARCH for every ARCH; otherwise: re-sign
set -eu
# Its helpers beside it, wherever it is run from (a scaffolded repository has them in node_modules).
here=$(dirname "$0")

die() {
	echo "publish-pages: $*" >&2
	exit 1
}

suite=${APT_SUITE:-stable}
component=${APT_COMPONENT:-main}
from=${APT_REPO_URL:-${CI_PAGES_URL-}}
[ -n "$from" ] || die "neither APT_REPO_URL nor CI_PAGES_URL is set, so the published repository cannot be carried over (set APT_REPO_URL=none for the first release only)"
# What the example .sources file points apt at: the Pages site.
served=${CI_PAGES_URL:-$from}
[ "$served" != none ] || served=
release=
if [ -n "${CI_COMMIT_TAG-}" ] || [ "${REBUILD-}" = yes ]; then
	release=yes
	: "${VERSION:?VERSION is not set: the release.env dotenv of the build job did not reach this job}"
	: "${PACKAGE_NAME:?PACKAGE_NAME is not set: the release.env dotenv of the build job did not reach this job}"
	files=$(sh "$here/release-set.sh" out "$VERSION") || die "not publishing $PACKAGE_NAME $VERSION: it must hold every architecture in ARCHITECTURES (${ARCHITECTURES-}), complete; the repository is unchanged"
	# shellcheck disable=SC2046 # the names are the release's own files, without spaces
	set -- $(printf '%s\n' "$files" | sed -n 's|^\(.*\.deb\)$|out/\1|p')
else
	# Builds here without REBUILD=yes: jobs of the rebuild matrix disagreed (the mirror changed
	# between them). Publishing some architectures would break the release; the next run agrees.
	for built in out/*/SHA256SUMS; do
		[ ! -f "$built" ] || die "${built%/SHA256SUMS} holds a build, but REBUILD is not yes: not every architecture was rebuilt, so none is published; the repository is unchanged (run the schedule again)"
	done
	echo "publish-pages: no new release (a schedule that found nothing behind): signing the served repository again"
	set -- --resign
fi

gnupg=$(mktemp -d "${TMPDIR:-/tmp}/eb-gnupg.XXXXXX")
cleanup() {
	gpgconf --homedir "$gnupg" --kill all >/dev/null 2>&1 || true
	rm -rf "$gnupg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
echo "publish-pages: the signing key goes into $gnupg, which is removed when this job ends"
fingerprint=$(sh "$here/gnupg-home.sh" "$gnupg")
echo "publish-pages: signing with $fingerprint"

rm -rf public
if [ "$from" = none ]; then
	echo "publish-pages: APT_REPO_URL=none: starting an empty repository"
	mkdir public
else
	sh "$here/fetch-apt-repo.sh" "$from" public "$suite" "$gnupg/keyring.gpg" ${APT_PREVIOUS_KEYRING:+"$APT_PREVIOUS_KEYRING"}
	# The latest release's manifest stays served until a new release replaces it.
	curl --fail --silent --location --retry 3 --output public/manifest.json "${from%/}/manifest.json" || rm -f public/manifest.json
fi
[ -z "$release" ] || cp out/manifest.json public/manifest.json

npx ephemeral-builder publish --repo public --suite "$suite" --component "$component" \
	--gnupg-home "$gnupg" --sign-key "$fingerprint" ${served:+--uri "$served"} --valid-for "${APT_VALID_FOR:-21d}" \
	${APT_KEEP:+--keep "$APT_KEEP"} ${APT_MAX_SIZE:+--max-size "$APT_MAX_SIZE"} ${APT_NEXT_KEYRING:+--next-key "$APT_NEXT_KEYRING"} "$@"

if [ -n "$release" ]; then
	rm -f out/SHA256SUMS.asc
	# out/SHA256SUMS: the whole release's, written by release-set.sh above.
	gpg --batch --no-tty --homedir "$gnupg" --local-user "$fingerprint" --armor --detach-sign --output out/SHA256SUMS.asc out/SHA256SUMS
	# As a host will check it: with the keyring the repository publishes, and nothing else.
	gpgv --homedir "$gnupg" --keyring "$PWD/public/$PACKAGE_NAME-archive-keyring.gpg" out/SHA256SUMS.asc out/SHA256SUMS 2>"$gnupg/gpgv.err" ||
		die "out/SHA256SUMS.asc does not verify with public/$PACKAGE_NAME-archive-keyring.gpg: $(tail -n 3 "$gnupg/gpgv.err" | tr '\n' ' ')"
	echo "publish-pages: signed out/SHA256SUMS (out/SHA256SUMS.asc)"
fi
