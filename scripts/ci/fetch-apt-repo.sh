#!/bin/sh
# Copies the apt repository currently served at BASE_URL (the GitLab Pages site) into DEST, so that
# the next `ephemeral-builder publish --repo DEST` adds to it and every earlier version stays
# installable. Pages keeps only the last deployment, so the repository is carried from one release
# to the next through the site itself.
#
# A static site cannot be listed, so the copy follows what apt follows: dists/SUITE/Release names
# the indexes (with sizes and SHA256), the Packages indexes name the pool files (with SHA256).
# Every file is checked against those hashes; with KEYRINGs, Release must also carry a valid
# signature by a key in one of them (the CI's own signing key, or the previous one right after a
# rotation), so a tampered site is refused, not republished.
#
# Exit 0 with DEST left empty when the site has no repository yet (HTTP 404: the first release).
# Any other failure exits 1: publishing without the old versions would silently drop them.
#
# Usage: sh scripts/ci/fetch-apt-repo.sh BASE_URL DEST [SUITE] [KEYRING...]
set -eu

die() {
	echo "fetch-apt-repo: $*" >&2
	exit 1
}

[ "$#" -ge 2 ] || die "usage: fetch-apt-repo.sh BASE_URL DEST [SUITE] [KEYRING...]"
base=${1%/}
dest=$2
suite=${3:-stable}
shift 2
[ "$#" -eq 0 ] || shift
case "$suite" in '' | */* | .*) die "bad suite '$suite'" ;; esac
# "$@" becomes gpgv's options, --keyring FILE for each keyring given (absolute: gpgv looks for a
# bare name in its home directory).
keyrings=
for keyring in "$@"; do
	shift
	[ -n "$keyring" ] || continue
	[ -r "$keyring" ] || die "keyring $keyring is not readable"
	case "$keyring" in /*) ;; *) keyring="$PWD/$keyring" ;; esac
	set -- "$@" --keyring "$keyring"
	keyrings="$keyrings $keyring"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# fetch URL FILE: 0 on 200, 4 on 404, dies on anything else (network, 5xx, redirects to a login).
fetch() {
	fetch_code=$(curl --silent --show-error --location --retry 3 --retry-delay 2 --output "$2" --write-out '%{http_code}' "$1") ||
		die "cannot download $1 (curl failed)"
	case "$fetch_code" in
	200) return 0 ;;
	404) return 4 ;;
	*) die "cannot download $1 (HTTP $fetch_code)" ;;
	esac
}

# A path from an index, relative, without "..": a hostile index must not write outside DEST.
safe_path() {
	case "$1" in
	'' | /* | *..* | *\\*) die "refusing the unsafe path '$1' from the repository's index" ;;
	esac
}

# get_checked REL SHA256 SIZE: downloads BASE/REL to DEST/REL unless an identical file is there.
get_checked() {
	safe_path "$1"
	gc_dest="$dest/$1"
	if [ -f "$gc_dest" ] && [ "$(sha256sum "$gc_dest" | cut -d' ' -f1)" = "$2" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$gc_dest")"
	fetch "$base/$1" "$tmp/file" || die "$base/$1 is listed in the repository's index but missing (HTTP 404)"
	gc_have=$(sha256sum "$tmp/file" | cut -d' ' -f1)
	[ "$gc_have" = "$2" ] || die "$base/$1 does not match its index (sha256 $gc_have, listed $2)"
	if [ -n "$3" ]; then
		gc_size=$(wc -c <"$tmp/file" | tr -d ' ')
		[ "$gc_size" = "$3" ] || die "$base/$1 does not match its index (size $gc_size, listed $3)"
	fi
	mv "$tmp/file" "$gc_dest"
}

rel="dists/$suite"
if fetch "$base/$rel/Release" "$tmp/Release"; then :; else
	echo "fetch-apt-repo: no repository at $base (dists/$suite/Release: HTTP 404); starting a new one"
	mkdir -p "$dest"
	exit 0
fi
grep -q '^SHA256:' "$tmp/Release" || die "$base/$rel/Release is not an apt Release file (a login page? is the Pages site public?)"
fetch "$base/$rel/Release.gpg" "$tmp/Release.gpg" || die "$base/$rel/Release.gpg is missing"
fetch "$base/$rel/InRelease" "$tmp/InRelease" || die "$base/$rel/InRelease is missing"
if [ "$#" -gt 0 ]; then
	gpgv --quiet "$@" "$tmp/Release.gpg" "$tmp/Release" 2>"$tmp/gpgv.err" ||
		die "$base/$rel/Release is not signed by a key in$keyrings: $(tail -n 3 "$tmp/gpgv.err" | tr '\n' ' ')"
	gpgv --quiet "$@" --output "$tmp/InRelease.body" "$tmp/InRelease" 2>"$tmp/gpgv.err" ||
		die "$base/$rel/InRelease is not signed by a key in$keyrings: $(tail -n 3 "$tmp/gpgv.err" | tr '\n' ' ')"
	cmp -s "$tmp/InRelease.body" "$tmp/Release" || die "$base/$rel/InRelease and Release differ (a publish in progress? run again)"
fi

# The SHA256 section of Release: " <sha256> <size> <path>" lines after "SHA256:".
awk '/^[^ ]/ { in_sha = ($0 == "SHA256:") ; next } in_sha && NF == 3 { print $1, $2, $3 }' "$tmp/Release" >"$tmp/indexes"
[ -s "$tmp/indexes" ] || die "$base/$rel/Release lists no index files"
by_hash=$(awk -F': *' '$1 == "Acquire-By-Hash" { print $2 }' "$tmp/Release")

mkdir -p "$dest/$rel"
while read -r sha size path; do
	get_checked "$rel/$path" "$sha" "$size"
	if [ "$by_hash" = yes ]; then
		safe_path "$path"
		mkdir -p "$dest/$rel/$(dirname "$path")/by-hash/SHA256"
		cp "$dest/$rel/$path" "$dest/$rel/$(dirname "$path")/by-hash/SHA256/$sha"
	fi
done <"$tmp/indexes"

# Every pool file every uncompressed Packages index names.
npackages=0
awk '$3 ~ /(^|\/)Packages$/ { print $3 }' "$tmp/indexes" >"$tmp/packages-files"
while read -r packages; do
	awk '
		/^Filename: / { f = $2 }
		/^SHA256: / { s = $2 }
		/^Size: / { z = $2 }
		/^$/ { if (f != "") print s, z, f; f = s = z = "" }
		END { if (f != "") print s, z, f }' "$dest/$rel/$packages" >"$tmp/pool"
	while read -r sha size file; do
		[ -n "$sha" ] || die "$packages lists $file without a SHA256"
		get_checked "$file" "$sha" "$size"
		npackages=$((npackages + 1))
	done <"$tmp/pool"
done <"$tmp/packages-files"

# Release last, as publish writes it: a half-copied DEST never looks complete.
cp "$tmp/Release.gpg" "$dest/$rel/Release.gpg"
cp "$tmp/InRelease" "$dest/$rel/InRelease"
cp "$tmp/Release" "$dest/$rel/Release"
echo "fetch-apt-repo: copied $base ($suite) into $dest: $npackages package files"
