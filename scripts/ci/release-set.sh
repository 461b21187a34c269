#!/bin/sh
# The release as one whole, for the pages and release jobs: OUT must hold the build of every
# architecture ARCHITECTURES lists (names separated by spaces), in OUT/ARCH as each job of the
# build matrix left it, each complete, its SHA256SUMS verified (scripts/ci/release-env.sh), at
# VERSION, with one package name and one install.sh for all. Then the files go flat into OUT, as
# the release publishes them, and OUT/SHA256SUMS covers them all. Anything missing or not matching
# is refused, exit 1, before anything is published: a release holds every listed architecture or is
# not published.
#
# Flat names: the tarballs, .debs and SBOMs carry their architecture already; install.sh is one for
# all; manifest.json is the first listed architecture's (what the site serves and `outdated`
# reads), and manifest-ARCH.json each architecture's; release-notes.md (a scheduled rebuild's) is
# the first architecture's. When OUT/SHA256SUMS exists already (the release job: the one the pages
# job signed), the release's must be that file, byte for byte.
# Prints the flat names SHA256SUMS lists, one a line.
# Usage: ARCHITECTURES="amd64 arm64" sh scripts/ci/release-set.sh OUT VERSION
set -eu
here=$(dirname "$0")

die() {
	echo "release-set: $*" >&2
	exit 1
}

[ "$#" -eq 2 ] || die "usage: release-set.sh OUT VERSION"
out=$1
version=$2
# ARCHITECTURES: Debian architecture names separated by spaces, none twice.
archs=
for arch in ${ARCHITECTURES-}; do
	case "$arch" in *[!a-z0-9]* | [!a-z]*) die "ARCHITECTURES: \"$arch\" is not a Debian architecture name (amd64, arm64, ...)" ;; esac
	case " $archs " in *" $arch "*) die "ARCHITECTURES names $arch twice" ;; esac
	archs="${archs:+$archs }$arch"
done
[ -n "$archs" ] || die 'ARCHITECTURES is empty: set it to the architectures the release holds, e.g. "amd64" or "amd64 arm64"'

# Every architecture first, before anything is written.
name=
for arch in $archs; do
	[ -d "$out/$arch" ] || die "$out/$arch is missing: the build of $arch did not run or did not succeed (a release holds every architecture in ARCHITECTURES, $archs, or none; add $arch to the build job's parallel:matrix if it is not there)"
	env=$(sh "$here/release-env.sh" "$out/$arch" "$version") || die "the build of $arch in $out/$arch is incomplete or damaged (see above)"
	this=$(printf '%s\n' "$env" | sed -n 's/^PACKAGE_NAME=//p')
	deb_version=$(printf '%s\n' "$env" | sed -n 's/^DEB_VERSION=//p')
	[ -z "$name" ] || [ "$this" = "$name" ] || die "$out/$arch holds $this, not $name: the builds are not of one recipe"
	name=$this
	[ -f "$out/$arch/$name-$version-$arch.tar.zst" ] || die "$out/$arch holds no $name-$version-$arch.tar.zst: a build of another architecture is in $out/$arch"
	first=${first:-$arch}
	cmp -s "$out/$first/install.sh" "$out/$arch/install.sh" || die "$out/$first/install.sh and $out/$arch/install.sh differ: the builds are not of one recipe and one builder"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# place SRC NAME: OUT/NAME is SRC (a hard link where it can be: image packages are large).
place() {
	ln -f "$1" "$out/$2" 2>/dev/null || cp -f "$1" "$out/$2"
	echo "$2" >>"$tmp/names"
}
: >"$tmp/names"
for arch in $archs; do
	place "$out/$arch/$name-$version-$arch.tar.zst" "$name-$version-$arch.tar.zst"
	place "$out/$arch/${name}_${deb_version}_$arch.deb" "${name}_${deb_version}_$arch.deb"
	place "$out/$arch/$name-image-${version}_${deb_version}_$arch.deb" "$name-image-${version}_${deb_version}_$arch.deb"
	place "$out/$arch/$name-$version-$arch.cdx.json" "$name-$version-$arch.cdx.json"
	place "$out/$arch/manifest.json" "manifest-$arch.json"
done
place "$out/$first/install.sh" install.sh
place "$out/$first/manifest.json" manifest.json
if [ -f "$out/$first/release-notes.md" ]; then cp -f "$out/$first/release-notes.md" "$out/release-notes.md"; fi

(cd "$out" && xargs sha256sum --) <"$tmp/names" >"$tmp/SHA256SUMS"
if [ -f "$out/SHA256SUMS" ]; then
	cmp -s "$tmp/SHA256SUMS" "$out/SHA256SUMS" || die "$out/SHA256SUMS is not the release's (the files differ from the ones it lists, or it lists other ones): it is the one the pages job signed, so nothing is released that it did not sign (run by hand: remove it first)"
else
	cp "$tmp/SHA256SUMS" "$out/SHA256SUMS"
fi
cat "$tmp/names"
echo "release-set: $name $version for $archs: $(wc -l <"$tmp/names" | tr -d ' ') files in $out/SHA256SUMS" >&2
