#!/bin/sh
# Checks that a release build of one architecture left every artifact in OUT
# (pipeline/stages/pack.ts) and that its SHA256SUMS verifies, then prints the dotenv the later jobs
# read: VERSION, DEB_VERSION and PACKAGE_NAME, the same for every architecture (the dotenvs of the
# build matrix's jobs all reach the later jobs, merged; scripts/ci/release-set.sh names each
# architecture's files). A missing file stops the pipeline here, before anything is published.
# Usage: sh scripts/ci/release-env.sh OUT VERSION >release.env
set -eu

die() {
	echo "release-env: $*" >&2
	exit 1
}

[ "$#" -eq 2 ] || die "usage: release-env.sh OUT VERSION"
out=$1
version=$2
# Debian's version of a semver: the pre-release's "-" becomes "~" so that dpkg sorts 1.4.0~rc.1
# before 1.4.0 (pipeline/pack/debian-version.ts does the same for the package versions).
case "$version" in
*-*) deb_version="${version%%-*}~${version#*-}" ;;
*) deb_version=$version ;;
esac

set -- "$out"/*-"$version"-*.tar.zst
if [ "$#" -ne 1 ] || ! [ -f "$1" ]; then
	die "expected exactly one $out/NAME-$version-ARCH.tar.zst, found: $*"
fi
tarball=${1##*/}
rest=${tarball%.tar.zst}
arch=${rest##*-}
name=${rest%-"$version"-*}
host_deb="${name}_${deb_version}_${arch}.deb"
image_deb="${name}-image-${version}_${deb_version}_${arch}.deb"
sbom="${name}-${version}-${arch}.cdx.json"
for f in "$host_deb" "$image_deb" install.sh "$sbom" SHA256SUMS manifest.json; do
	[ -f "$out/$f" ] || die "$out/$f is missing"
done
for f in "$tarball" "$host_deb" "$image_deb" install.sh "$sbom" manifest.json; do
	grep -q "[ *]$f\$" "$out/SHA256SUMS" || die "$out/SHA256SUMS does not list $f"
done
(cd "$out" && sha256sum --quiet --strict -c SHA256SUMS) >&2 || die "$out/SHA256SUMS does not verify"

cat <<ENV
VERSION=$version
DEB_VERSION=$deb_version
PACKAGE_NAME=$name
ENV
