#!/bin/sh
# Makes a throw-away GnuPG home in DIR holding the repository signing key from the CI variable
# APT_SIGNING_KEY (best a "File" variable: the path of an ASCII-armored secret key without a
# passphrase; the key's text itself is accepted too), writes DIR/keyring.gpg (the public key as
# apt's Signed-By wants it: binary, minimal, exactly what `ephemeral-builder publish` exports) and
# prints the signing key's fingerprint. With APT_SIGNING_KEY_ID set, that key is used; otherwise
# the import must hold exactly one secret key. The caller removes DIR (gpgconf --kill all first).
# Usage: fpr=$(sh scripts/ci/gnupg-home.sh DIR)
set -eu

die() {
	echo "gnupg-home: $*" >&2
	exit 1
}

[ "$#" -eq 1 ] || die "usage: gnupg-home.sh DIR"
home=$1
[ -n "${APT_SIGNING_KEY-}" ] || die "APT_SIGNING_KEY is not set: add the repository's secret signing key as a CI/CD variable of type File (protected, for protected tags)"
mkdir -p "$home"
chmod 700 "$home"
gpg_() {
	gpg --batch --no-tty --homedir "$home" "$@"
}

if [ -f "$APT_SIGNING_KEY" ]; then
	gpg_ --quiet --import "$APT_SIGNING_KEY" 2>"$home/import.log" || die "cannot import $APT_SIGNING_KEY: $(tail -n 3 "$home/import.log")"
else
	printf '%s\n' "$APT_SIGNING_KEY" | gpg_ --quiet --import 2>"$home/import.log" || die "cannot import the key in APT_SIGNING_KEY: $(tail -n 3 "$home/import.log")"
fi

# The fingerprint of every secret primary key matching APT_SIGNING_KEY_ID (or all of them).
# shellcheck disable=SC2086 # an empty APT_SIGNING_KEY_ID means "no selector"
fprs=$(gpg_ --with-colons --list-secret-keys ${APT_SIGNING_KEY_ID-} 2>/dev/null |
	awk -F: '$1 == "sec" { want = 1; next } $1 == "fpr" && want { print $10; want = 0 }')
count=$(printf '%s\n' "$fprs" | grep -c . || true)
[ "$count" -ge 1 ] || die "APT_SIGNING_KEY holds no secret key${APT_SIGNING_KEY_ID:+ matching APT_SIGNING_KEY_ID=$APT_SIGNING_KEY_ID}"
[ "$count" -eq 1 ] || die "APT_SIGNING_KEY holds $count secret keys; set APT_SIGNING_KEY_ID to the fingerprint of the signing key"

# A passphrase would make the unattended signature hang or fail later; find out now. (Never
# --output /dev/null: gpg deletes its output file when signing fails.)
printf 'probe\n' | gpg_ --pinentry-mode error --local-user "$fprs" --detach-sign --output "$home/probe.sig" 2>"$home/sign.log" ||
	die "cannot sign with $fprs without a passphrase (CI cannot type one): $(tail -n 2 "$home/sign.log")"

gpg_ --export-options export-minimal --export "$fprs" >"$home/keyring.gpg"
[ -s "$home/keyring.gpg" ] || die "exporting the public key of $fprs gave nothing"
printf '%s\n' "$fprs"
