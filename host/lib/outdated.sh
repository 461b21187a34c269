# `@NAME@ctl outdated`, inlined into the host tool at pack time (the "#@include outdated.sh" line):
# which packages of an installed image its own apt sources now have in a newer version, the same
# check as the builder's `ephemeral-builder outdated`, on the host and without node. apt-get does
# the work with a private configuration in a temporary directory (its own lists, cache and
# state) that reads the image's dpkg status, the image's deb822 sources and keys, and nothing of
# the host's apt: not its sources, settings, lists, keys or locks, so the host's apt is never
# touched and the host's settings never change the answer.

# The temporary directory, removed on every way out (see cmd_outdated's traps).
EB_OD_TMP=
eb_od_cleanup() {
	[ -z "$EB_OD_TMP" ] || rm -rf "$EB_OD_TMP"
	EB_OD_TMP=
}

eb_od_apt() {
	APT_CONFIG="$EB_OD_TMP/apt.conf" apt-get -q "$@"
}

# apt's own error and warning lines of a log (else its last lines), on one line, for a message.
eb_od_apt_errors() {
	eb_oe=$(grep -E '^[EW]:' "$1" || tail -n 3 "$1")
	printf '%s' "$eb_oe" | tr -s ' \n' '  '
}

# apt's warnings in a log ($1) of a step that succeeded ($2), passed on: never swallowed.
eb_od_warnings() {
	grep '^W:' "$1" | sed "s/^W: /$EB_PROG: warning: apt-get $2: /" >&2 || true
}

# The image's architecture: what image.env says, else that of the image's dpkg.
eb_od_architecture() {
	eb_oa=$(eb_image_info "$1" IMAGE_ARCHITECTURE)
	[ -n "$eb_oa" ] || eb_oa=$(awk '/^Package: dpkg$/ { p = 1 } p && /^Architecture: / { print $2; exit } /^$/ { p = 0 }' "$EB_IMAGES/$1/var/lib/dpkg/status")
	printf '%s\n' "$eb_oa"
}

# apt's configuration, read instead of /etc/apt/apt.conf (APT_CONFIG comes first, and it names
# the settings directories, so the host's apt.conf.d is never read). Where a source has no
# Signed-By, apt checks it with the image's trusted keys, never the host's; its pinning is the
# image's too. The only lock apt takes (update's, of the lists) is in the temporary directory: a
# simulated upgrade locks nothing. The indexes stay compressed and no source package cache is
# made: about 70 MB instead of 140.
eb_od_config() {
	eb_oc_img=$1
	# apt warns about a settings directory that is not there; an empty one of ours says the same.
	eb_oc_prefs="$eb_oc_img/etc/apt/preferences.d"
	[ -d "$eb_oc_prefs" ] || eb_oc_prefs="$EB_OD_TMP/etc/preferences.d"
	eb_oc_trusted="$eb_oc_img/etc/apt/trusted.gpg.d"
	[ -d "$eb_oc_trusted" ] || eb_oc_trusted="$EB_OD_TMP/etc/trusted.gpg.d"
	cat <<EOF
Dir "/";
Dir::Etc "$EB_OD_TMP/etc";
Dir::Etc::main "$EB_OD_TMP/etc/apt.conf";
Dir::Etc::parts "$EB_OD_TMP/etc/apt.conf.d";
Dir::Etc::sourcelist "$EB_OD_TMP/etc/sources.list";
Dir::Etc::sourceparts "$EB_OD_TMP/etc/sources.list.d";
Dir::Etc::preferences "$eb_oc_img/etc/apt/preferences";
Dir::Etc::preferencesparts "$eb_oc_prefs";
Dir::Etc::trusted "$eb_oc_img/etc/apt/trusted.gpg";
Dir::Etc::trustedparts "$eb_oc_trusted";
Dir::State "$EB_OD_TMP/state";
Dir::State::lists "$EB_OD_TMP/lists";
Dir::State::status "$eb_oc_img/var/lib/dpkg/status";
Dir::Cache "$EB_OD_TMP/cache";
Dir::Log "$EB_OD_TMP/log";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Dir::Cache::srcpkgcache "";
APT::Architecture "$2";
APT::Architectures { "$2"; };
EOF
	# An image with foreign architectures (dpkg --add-architecture) has them in dpkg's arch file.
	if [ -r "$eb_oc_img/var/lib/dpkg/arch" ]; then
		grep -vx -e "$2" -e '' "$eb_oc_img/var/lib/dpkg/arch" | while read -r eb_oc_arch; do
			printf 'APT::Architectures:: "%s";\n' "$eb_oc_arch"
		done
	fi
}

# "Label:Version/Suite<TAB>Codename" for every Release file apt fetched: apt names a release by
# its label, version and suite ("Debian-Security:13/stable-security"), the image's sources and
# the builder's outdated by codename (trixie-security).
eb_od_codenames() {
	for eb_on_file in "$EB_OD_TMP"/lists/*_InRelease "$EB_OD_TMP"/lists/*_Release; do
		[ -f "$eb_on_file" ] || continue
		awk '/^Label: / { l = substr($0, 8) } /^Version: / { v = substr($0, 10) } /^Suite: / { s = substr($0, 8) } /^Codename: / { c = substr($0, 11) }
			END { if (s != "" && c != "") printf "%s%s%s\t%s\n", (l != "" ? l ":" : ""), (v != "" ? v "/" : ""), s, c }' "$eb_on_file"
	done
}

# Turns apt-get's simulated upgrade ("Inst NAME [OLD] (NEW RELEASE, RELEASE [ARCH])") into
# "NAME<TAB>OLD<TAB>NEW<TAB>FROM<TAB>SECURITY-or-empty" lines. A package from a security suite (a
# suite or codename ending in -security, or Debian's old NAME/updates) is marked, and named by
# that suite when another suite has the same version. Packages the upgrade would newly install
# are not behind, so not listed.
eb_od_behind() {
	awk -F '\t' 'FILENAME == ARGV[1] { codename[$1] = $2; next }
		{
			split($0, f, " ")
			if (f[1] != "Inst" || substr(f[3], 1, 1) != "[") next
			old = substr(f[3], 2, length(f[3]) - 2)
			rest = substr($0, index($0, "(") + 1)
			new = rest; sub(/ .*/, "", new)
			rel = substr(rest, length(new) + 2); sub(/ \[[^]]*\]\).*$/, "", rel)
			n = split(rel, r, ", ")
			from = ""; security = ""
			for (i = 1; i <= n; i++) {
				name = r[i]
				if (name in codename) name = codename[name]
				else { sub(/^[^\/]*\//, "", name); sub(/^[^:]*:/, "", name) }
				if (name ~ /-security$|\/updates$/ || r[i] ~ /-security$|\/updates$|^[^:]*-Security:/) { if (security == "") from = name; security = "SECURITY" }
				else if (from == "") from = name
			}
			printf "%s\t%s\t%s\t%s\t%s\n", f[2], old, new, from, security
		}' "$1" "$2"
}

cmd_outdated() {
	EB_DIE_STATUS=2
	case "${1-}" in -*) eb_die "usage: $EB_PROG outdated [VERSION]" ;; esac
	[ "$#" -le 1 ] || eb_die "usage: $EB_PROG outdated [VERSION]"
	eb_od_v=${1:-$(eb_current_version)}
	[ -n "$eb_od_v" ] || eb_die "no current image: see '$EB_PROG versions', or name one: $EB_PROG outdated VERSION"
	eb_od_img="$EB_IMAGES/$eb_od_v"
	[ -d "$eb_od_img" ] || eb_die "image $eb_od_v is not installed in $EB_IMAGES; installed: $(eb_versions | tr '\n' ' ')"
	[ -r "$eb_od_img/var/lib/dpkg/status" ] || eb_die "image $eb_od_v has no dpkg database ($eb_od_img/var/lib/dpkg/status), so nothing says what it holds"
	command -v apt-get >/dev/null 2>&1 || eb_die "apt-get is missing: install apt, or run 'ephemeral-builder outdated' on a copy of $eb_od_img elsewhere"
	set -- "$eb_od_img"/etc/apt/sources.list.d/*.sources
	[ -f "$1" ] || eb_die "image $eb_od_v has no deb822 apt sources in /etc/apt/sources.list.d (it was built before images kept them): run 'ephemeral-builder outdated' on its manifest.json"
	eb_od_arch=$(eb_od_architecture "$eb_od_v")
	[ -n "$eb_od_arch" ] || eb_die "image $eb_od_v names no architecture (no IMAGE_ARCHITECTURE in its image.env, no dpkg in its dpkg database)"
	eb_od_name=$(eb_image_info "$eb_od_v" IMAGE_NAME)

	trap 'eb_od_cleanup' EXIT
	trap 'eb_od_cleanup; exit 130' INT TERM HUP
	EB_OD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$EB_NAME-outdated.XXXXXX") || eb_die "cannot make a temporary directory in ${TMPDIR:-/tmp} (set TMPDIR to a writable directory with about 70 MB free)"
	# apt downloads as its own user, _apt, which must reach lists/partial (nothing in here is secret).
	if ! { chmod 0755 "$EB_OD_TMP" && mkdir -p "$EB_OD_TMP/etc/apt.conf.d" "$EB_OD_TMP/etc/sources.list.d" "$EB_OD_TMP/etc/preferences.d" "$EB_OD_TMP/etc/trusted.gpg.d" "$EB_OD_TMP/lists/partial" \
		"$EB_OD_TMP/cache/archives/partial" "$EB_OD_TMP/state" "$EB_OD_TMP/log"; }; then
		eb_die "cannot write to $EB_OD_TMP"
	fi
	# The image's sources as they are, but with their keyrings (Signed-By: absolute paths inside the
	# image) read from the image directory, not from the host's same paths.
	eb_od_root=$(printf '%s\n' "$eb_od_img" | sed 's/[\\&#]/\\&/g')
	for eb_od_src; do
		sed "/^[Ss]igned-[Bb]y:/s#\([:[:space:],]\)/#\1$eb_od_root/#g" "$eb_od_src" >"$EB_OD_TMP/etc/sources.list.d/${eb_od_src##*/}" ||
			eb_die "cannot read $eb_od_src"
	done
	eb_od_suites=$(awk 'tolower($1) == "suites:" { for (i = 2; i <= NF; i++) out = out (out == "" ? "" : ", ") $i } END { print out }' "$@")
	eb_od_config "$eb_od_img" "$eb_od_arch" >"$EB_OD_TMP/apt.conf" || eb_die "cannot write $EB_OD_TMP/apt.conf"

	if ! eb_od_apt update --error-on=any >"$EB_OD_TMP/update.log" 2>&1; then
		eb_die "apt-get update of image $eb_od_v's sources ($eb_od_suites) failed: $(eb_od_apt_errors "$EB_OD_TMP/update.log")"
	fi
	eb_od_warnings "$EB_OD_TMP/update.log" update
	if ! eb_od_apt -s dist-upgrade >"$EB_OD_TMP/upgrade.log" 2>&1; then
		eb_die "apt-get's simulated upgrade of image $eb_od_v failed: $(eb_od_apt_errors "$EB_OD_TMP/upgrade.log")"
	fi
	eb_od_warnings "$EB_OD_TMP/upgrade.log" 'simulated upgrade'
	eb_od_codenames >"$EB_OD_TMP/codenames"
	eb_od_behind "$EB_OD_TMP/codenames" "$EB_OD_TMP/upgrade.log" | LC_ALL=C sort >"$EB_OD_TMP/behind" || eb_die "cannot read apt-get's simulated upgrade ($EB_OD_TMP/upgrade.log)"

	eb_od_title="${eb_od_name:-$EB_NAME} $eb_od_v"
	if ! [ -s "$EB_OD_TMP/behind" ]; then
		eb_say "$eb_od_title: nothing behind ($eb_od_suites)"
		exit 0
	fi
	awk -F '\t' -v title="$eb_od_title" '
		{ row[NR] = $0; if ($5 != "") security++ }
		END {
			printf "%s: %d package%s behind, %d with a security fix\n", title, NR, NR == 1 ? "" : "s", security
			row[0] = "package\tinstalled\tavailable\tfrom\t"
			for (i = 0; i <= NR; i++) { n = split(row[i], c, "\t"); for (j = 1; j <= n; j++) if (length(c[j]) > w[j]) w[j] = length(c[j]) }
			for (i = 0; i <= NR; i++) {
				split(row[i], c, "\t")
				line = sprintf("%-" w[1] "s  %-" w[2] "s  %-" w[3] "s  %-" w[4] "s  %s", c[1], c[2], c[3], c[4], c[5])
				sub(/ +$/, "", line)
				print line
			}
		}' "$EB_OD_TMP/behind"
	exit 1
}
