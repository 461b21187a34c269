#!/bin/sh
# install.sh for @NAME@: installs, upgrades, switches and removes @NAME@ on a host without apt,
# from a @NAME@-VERSION-ARCH.tar.zst with SHA256SUMS, its signature SHA256SUMS.asc and the release
# keyring next to it. It lays the host out exactly as the .deb packages do (same files, units and
# /var/lib/@NAME@/current link; the shared logic is the same code as the packages' maintainer
# scripts) and never touches anything before the archive is verified: the signature of SHA256SUMS
# by the key whose fingerprint the admin gives, the checksum, every member path, a full read.
#
# What is verified is what is installed: SHA256SUMS, its signature and the keyring are copied into
# a private directory (mktemp -d) and checked there, and the tarball is read once, into that
# directory; the checksum, the checks and the extraction all read that copy, which nobody else
# can change between the check and the use. The switch itself (host files renamed into place,
# then `current`) runs with interrupts held off, so Ctrl-C or a TERM either comes before it and
# leaves the previous version as it was, or waits until the new one is complete.
# shellcheck disable=SC2317 # the shared functions this script does not call
set -eu

usage() {
	cat <<'EOF'
Usage: sh install.sh [OPTIONS] COMMAND [ARG]

  install FILE.tar.zst   install (or reinstall) the version in FILE and switch to it
  upgrade FILE.tar.zst   the same, on a host install.sh already set up
  use VERSION            new connections get image VERSION (running containers keep theirs)
  rollback               switch back to the previous image
  uninstall              remove everything install.sh installed: files, images, keys, state
  status                 what is installed and which image is current

  --fingerprint FPR      the fingerprint of the key that signs @NAME@ releases (40 hex digits,
                         spaces allowed), as the project publishes it; repeat it to accept
                         either of two keys around a key rotation
  --keyring FILE         the release keys (default: @NAME@-archive-keyring.gpg next to FILE)
  --insecure             install without checking the signature (anyone who could change the
                         download could then change what runs as root here)
  --dry-run              verify and show what would change, change nothing
  --root DIR             act on DIR instead of / (also: EB_ROOT=DIR)

FILE must have next to it SHA256SUMS, which lists it, and SHA256SUMS.asc, its signature by the
key --fingerprint names, checked with sqv or gpgv. TMPDIR needs room for a copy of FILE. Hosts
installed with apt are managed with apt (and @NAME@ctl); install.sh refuses to touch them.
EOF
}

# --root and --dry-run are read first: the shared code below derives its paths from them.
eb_prev=
for eb_arg in "$@"; do
	case "$eb_arg" in
	--root=*) EB_ROOT=${eb_arg#--root=} ;;
	--dry-run) EB_DRY_RUN=1 ;;
	esac
	[ "$eb_prev" != --root ] || EB_ROOT=$eb_arg
	eb_prev=$eb_arg
done

if [ -n "${EB_ROOT:-}" ]; then
	[ -d "$EB_ROOT" ] || { echo "install.sh: error: --root $EB_ROOT is not a directory" >&2; exit 1; }
	EB_ROOT=$(cd "$EB_ROOT" && pwd)
fi

EB_PROG=install.sh
#@include common.sh

EB_LISTING=
EB_STAGING=
# The private directory: the verified copies of SHA256SUMS, its signature, the keyring and the
# tarball (EB_ARCHIVE), which is all that is read after verification.
EB_WORK=
EB_ARCHIVE=
EB_FINGERPRINTS=
EB_KEYRING=
EB_INSECURE=0
# Directories a failed install made, removed again so that a refused archive leaves no trace.
EB_MADE_DIRS=
EB_DONE=0
eb_cleanup() {
	[ -z "$EB_LISTING" ] || rm -f "$EB_LISTING" "$EB_LISTING.version" "$EB_LISTING.members"
	[ -z "$EB_STAGING" ] || rm -rf "$EB_STAGING"
	[ -z "$EB_WORK" ] || rm -rf "$EB_WORK"
	eb_unlock
	if [ "$EB_DONE" = 0 ]; then
		for eb_cl_dir in $EB_MADE_DIRS; do rmdir "$eb_cl_dir" 2>/dev/null || true; done
	fi
}

eb_need_tool() {
	command -v "$1" >/dev/null 2>&1 || eb_die "$1 is missing: apt-get install $2 (or install the $2 package)"
}

eb_refuse_dpkg() {
	if eb_dpkg_has_host; then
		eb_die "$EB_NAME is installed with dpkg/apt on this host; use apt (and ${EB_NAME}ctl) to manage it"
	fi
}

# The Debian architecture of this host: dpkg's, else the kernel's machine name as Debian names it.
eb_host_architecture() {
	if command -v dpkg >/dev/null 2>&1 && eb_ha=$(dpkg --print-architecture 2>/dev/null) && [ -n "$eb_ha" ]; then
		printf '%s\n' "$eb_ha"
		return 0
	fi
	case "$(uname -m)" in
	x86_64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	armv7l | armv8l) echo armhf ;;
	i?86) echo i386 ;;
	ppc64le) echo ppc64el ;;
	*) uname -m ;;
	esac
}

# A release archive is named NAME-VERSION-ARCHITECTURE.tar.zst (the name SHA256SUMS lists, so its
# signature covers it). One for another architecture holds an image and helpers this host cannot
# run: refused before anything is read or changed. Under --root too: the tree is prepared for
# this machine's architecture.
eb_check_architecture() {
	eb_ca_base=${1##*/}
	case "$eb_ca_base" in
	"$EB_NAME"-*-*.tar.zst) ;;
	*) eb_die "$eb_ca_base is not named $EB_NAME-VERSION-ARCHITECTURE.tar.zst, so its architecture is unknown: install the file under the name it was released with; nothing was changed" ;;
	esac
	eb_ca_arch=${eb_ca_base%.tar.zst}
	eb_ca_arch=${eb_ca_arch##*-}
	eb_ca_host=$(eb_host_architecture)
	[ "$eb_ca_arch" = "$eb_ca_host" ] ||
		eb_die "$eb_ca_base is for $eb_ca_arch, but this host is $eb_ca_host: download $EB_NAME-VERSION-$eb_ca_host.tar.zst instead; nothing was changed"
}

# A fingerprint as gpg prints it, with or without spaces, in capitals; refused unless it is one.
eb_fingerprint() {
	eb_fp=$(printf '%s' "$1" | tr -d ' ' | tr 'abcdef' 'ABCDEF')
	case "$eb_fp" in
	*[!0-9A-F]* | '') eb_die "--fingerprint '$1' is not a key fingerprint (40 hexadecimal digits, as gpg --fingerprint shows it)" ;;
	esac
	[ "${#eb_fp}" = 40 ] || [ "${#eb_fp}" = 64 ] || eb_die "--fingerprint '$1' is not a key fingerprint (40 hexadecimal digits, as gpg --fingerprint shows it)"
	printf '%s\n' "$eb_fp"
}

# Checks the private copy of SHA256SUMS against its signature, with sqv (Debian 13's apt verifier)
# or gpgv: it must verify with the keyring, and the key that made it must be one --fingerprint
# names (a keyring downloaded next to the tarball proves nothing by itself).
eb_check_signature() {
	eb_cs_dir=$1
	[ -r "$eb_cs_dir/SHA256SUMS.asc" ] || eb_die "$eb_cs_dir/SHA256SUMS.asc is missing: the release is not signed, or its signature was not downloaded. Download SHA256SUMS.asc from the release (or, not recommended, pass --insecure); nothing was changed"
	[ -n "$EB_FINGERPRINTS" ] || eb_die "pass --fingerprint FINGERPRINT, the fingerprint of the key that signs $EB_NAME releases as the project publishes it (or, not recommended, --insecure); nothing was changed"
	eb_cs_keyring=${EB_KEYRING:-$eb_cs_dir/$EB_NAME-archive-keyring.gpg}
	[ -r "$eb_cs_keyring" ] || eb_die "no keyring at $eb_cs_keyring: download $EB_NAME-archive-keyring.gpg from the release, or give --keyring FILE"
	cp "$eb_cs_dir/SHA256SUMS.asc" "$EB_WORK/SHA256SUMS.asc"
	cp "$eb_cs_keyring" "$EB_WORK/keyring.gpg"
	if command -v sqv >/dev/null 2>&1; then
		eb_cs_by=$(sqv --keyring "$EB_WORK/keyring.gpg" --signature-file "$EB_WORK/SHA256SUMS.asc" "$EB_WORK/SHA256SUMS" 2>"$EB_WORK/verify.log") || eb_cs_by=
	elif command -v gpgv >/dev/null 2>&1; then
		mkdir -m 0700 "$EB_WORK/gnupg"
		# A good signature (GOODSIG, not by an expired or revoked key) and its primary key's fingerprint.
		eb_cs_by=$(gpgv --homedir "$EB_WORK/gnupg" --status-fd 1 --keyring "$EB_WORK/keyring.gpg" "$EB_WORK/SHA256SUMS.asc" "$EB_WORK/SHA256SUMS" 2>"$EB_WORK/verify.log" |
			awk '$2 == "NEWSIG" { good = 0 } $2 == "GOODSIG" { good = 1 } $2 == "VALIDSIG" && good { print $NF }') || eb_cs_by=
	else
		eb_die "neither sqv nor gpgv is installed, so the release's signature cannot be checked: apt-get install sqv (or gpgv)"
	fi
	for eb_cs_fp in $eb_cs_by; do
		case " $EB_FINGERPRINTS " in *" $eb_cs_fp "*)
			eb_say "SHA256SUMS is signed by $eb_cs_fp"
			return 0
			;;
		esac
	done
	[ -z "$eb_cs_by" ] || eb_die "SHA256SUMS in $eb_cs_dir is signed by $eb_cs_by, not by the key --fingerprint names ($EB_FINGERPRINTS); nothing was changed"
	eb_die "SHA256SUMS in $eb_cs_dir carries no good signature by $EB_FINGERPRINTS ($(tail -n 2 "$EB_WORK/verify.log" | tr -s ' \n' '  ')): the files may have been changed after the release; nothing was changed"
}

# Verifies FILE: the signature of SHA256SUMS, then FILE against it, read once into the private
# directory (EB_ARCHIVE). Nothing has been touched yet.
eb_verify_release() {
	eb_vs_dir=$(dirname "$1")
	eb_vs_base=$(basename "$1")
	[ -r "$eb_vs_dir/SHA256SUMS" ] || eb_die "no SHA256SUMS next to $1: download it from the same release"
	cp "$eb_vs_dir/SHA256SUMS" "$EB_WORK/SHA256SUMS"
	if [ "$EB_INSECURE" = 1 ]; then
		eb_warn "--insecure: the signature of SHA256SUMS is not checked"
	else
		eb_check_signature "$eb_vs_dir"
	fi
	eb_vs_want=$(awk -v f="$eb_vs_base" '$2 == f || $2 == "*" f { print $1; exit }' "$EB_WORK/SHA256SUMS")
	[ -n "$eb_vs_want" ] || eb_die "$eb_vs_dir/SHA256SUMS does not list $eb_vs_base"
	EB_ARCHIVE="$EB_WORK/$eb_vs_base"
	cat "$1" >"$EB_ARCHIVE" || eb_die "cannot copy $1 into $EB_WORK: is ${TMPDIR:-/tmp} full? (set TMPDIR to a directory with room)"
	eb_vs_have=$(sha256sum "$EB_ARCHIVE" | awk '{ print $1 }')
	[ "$eb_vs_have" = "$eb_vs_want" ] || eb_die "$1 does not match SHA256SUMS (got $eb_vs_have, want $eb_vs_want): the download is damaged or not the released file"
}

# Reads the whole archive (a truncated or damaged one fails here) and checks every member path:
# nothing absolute, no "..", nothing outside what the packages ship. Sets EB_LISTING (the member
# list) and EB_ARCHIVE_VERSION (the image version). $2: the name the messages give the file.
eb_check_archive() {
	zstd -q -t "$1" 2>/dev/null || eb_die "$2 is not a complete zstd file (truncated or damaged)"
	EB_LISTING=$(mktemp)
	tar --zstd -tf "$1" >"$EB_LISTING" 2>/dev/null || eb_die "$2 is not a complete tar archive (truncated or damaged)"
	awk -v name="$EB_NAME" '
		function bad(why) { print "error: " why ": " raw > "/dev/stderr"; failed = 1 }
		{
			raw = $0; p = $0
			if (substr(p, 1, 1) == "/") { bad("absolute path"); next }
			while (substr(p, 1, 2) == "./") p = substr(p, 3)
			sub(/\/+$/, "", p)
			if (p == "" || p == ".") next
			n = split(p, part, "/")
			for (i = 1; i <= n; i++) if (part[i] == "..") { bad("path with .."); next }
			img = "usr/lib/" name "/images/"
			if (index(p, img) == 1 && length(p) > length(img)) {
				v = substr(p, length(img) + 1); sub(/\/.*/, "", v)
				versions[v] = 1
				next
			}
			if (p ~ "^(usr|usr/lib|usr/lib/systemd|usr/lib/systemd/system|usr/sbin|usr/share|usr/share/doc|usr/share/lintian|usr/share/lintian/overrides|usr/share/man|usr/share/man/man8|etc)$") next
			if (p == "usr/lib/" name || p == "usr/lib/" name "/images") next
			if (index(p, "usr/lib/" name "/") == 1) next
			if (p == "usr/sbin/" name "ctl" || p == "usr/share/man/man8/" name "ctl.8.gz") next
			if (p == "usr/lib/systemd/system/" name ".socket" || p == "usr/lib/systemd/system/" name "@.service") next
			if (p == "etc/" name || index(p, "etc/" name "/") == 1) next
			if (index(p, "usr/share/doc/" name) == 1 || index(p, "usr/share/lintian/overrides/" name) == 1) next
			bad("not a file of " name)
		}
		END {
			count = 0
			for (v in versions) { count++; version = v }
			if (count != 1) { print "error: the archive must hold exactly one image under usr/lib/" name "/images/, it holds " count > "/dev/stderr"; failed = 1 }
			if (failed) exit 1
			print version
		}' "$EB_LISTING" >"$EB_LISTING.version" || eb_die "$2 is not a $EB_NAME release archive; nothing was changed"
	EB_ARCHIVE_VERSION=$(cat "$EB_LISTING.version")
	rm -f "$EB_LISTING.version"
}

# A member path as the host sees it: without "./" and trailing slashes.
eb_members() {
	sed -e 's|^\(\./\)*||' -e 's|/*$||' -e '/^$/d' "$EB_LISTING"
}

# /etc files are the admin's once installed (dpkg's conffiles): replaced only if unchanged since
# install.sh put them there, else the new version is left next to them as FILE.install-new.
eb_install_conffile() {
	eb_cf_src=$1
	eb_cf_dst=$2
	eb_cf_rel=$3
	eb_cf_new=$(sha256sum "$eb_cf_src" | awk '{ print $1 }')
	if [ -e "$eb_cf_dst" ] && ! cmp -s "$eb_cf_src" "$eb_cf_dst"; then
		eb_cf_have=$(sha256sum "$eb_cf_dst" | awk '{ print $1 }')
		eb_cf_shipped=$(awk -v f="$eb_cf_rel" '$2 == f { print $1 }' "$EB_STATE/conffiles" 2>/dev/null || true)
		if [ "$eb_cf_have" != "$eb_cf_shipped" ]; then
			eb_warn "keeping your changed /$eb_cf_rel; the new default is /$eb_cf_rel.install-new"
			eb_run mv -f "$eb_cf_src" "$eb_cf_dst.install-new"
			eb_cf_new=$eb_cf_shipped
			eb_record_conffile "$eb_cf_rel" "$eb_cf_new"
			return 0
		fi
	fi
	eb_run mv -f "$eb_cf_src" "$eb_cf_dst"
	eb_record_conffile "$eb_cf_rel" "$eb_cf_new"
}

eb_record_conffile() {
	[ "$EB_DRY_RUN" = 1 ] && return 0
	{
		awk -v f="$1" '$2 != f' "$EB_STATE/conffiles" 2>/dev/null || true
		printf '%s %s\n' "$2" "$1"
	} >"$EB_STATE/conffiles.tmp.$$"
	mv -f "$EB_STATE/conffiles.tmp.$$" "$EB_STATE/conffiles"
}

# The socket, enabled and started as the package does it. Under --root only the enablement link
# is made (systemctl --root works without a running systemd).
eb_enable_socket() {
	if [ -n "$EB_ROOT_DIR" ]; then
		eb_run systemctl --root="$EB_ROOT_DIR" --quiet enable "$EB_NAME.socket"
		return 0
	fi
	eb_run systemctl --quiet enable "$EB_NAME.socket"
	if [ -d /run/systemd/system ]; then
		eb_run systemctl daemon-reload
		eb_run systemctl restart "$EB_NAME.socket"
	fi
}

eb_disable_socket() {
	if [ -n "$EB_ROOT_DIR" ]; then
		eb_run systemctl --root="$EB_ROOT_DIR" --quiet disable "$EB_NAME.socket" || true
		return 0
	fi
	if [ -d /run/systemd/system ]; then
		eb_run systemctl --quiet disable --now "$EB_NAME.socket" || true
	else
		eb_run systemctl --quiet disable "$EB_NAME.socket" || true
	fi
}

cmd_install() {
	eb_in_mode=$1
	[ "$#" -eq 2 ] || eb_die "usage: sh install.sh $eb_in_mode FILE.tar.zst"
	eb_in_file=$2
	# A named pipe is fine too: the tarball is read once.
	[ -f "$eb_in_file" ] || [ -p "$eb_in_file" ] || eb_die "$eb_in_file does not exist"
	eb_check_architecture "$eb_in_file"
	[ "$(id -u)" = 0 ] || [ -n "$EB_ROOT_DIR" ] || eb_die "run as root"
	eb_need_tool zstd zstd
	eb_need_tool tar tar
	eb_need_tool sha256sum coreutils
	eb_need_tool ssh-keygen openssh-client
	eb_need_tool systemctl systemd
	eb_need_tool systemd-nspawn systemd-container
	eb_refuse_dpkg
	eb_in_by=$(eb_installed_by)
	if [ "$eb_in_mode" = upgrade ] && [ "$eb_in_by" != install.sh ]; then
		eb_die "nothing to upgrade: install.sh has not set up this host (use 'install')"
	fi
	[ -z "$eb_in_by" ] || [ "$eb_in_by" = install.sh ] || eb_die "this host was set up by $eb_in_by, not install.sh"

	trap 'eb_cleanup' EXIT
	trap 'eb_cleanup; exit 130' INT TERM HUP
	EB_WORK=$(mktemp -d) || eb_die "cannot make a private directory with mktemp -d"
	eb_verify_release "$eb_in_file"
	eb_check_archive "$EB_ARCHIVE" "$eb_in_file"
	eb_in_version=$EB_ARCHIVE_VERSION
	eb_say "verified $eb_in_file: $EB_NAME $eb_in_version"
	if [ "$EB_DRY_RUN" = 1 ]; then
		eb_say "would install into ${EB_ROOT_DIR:-/}:"
		eb_members | awk -v img="usr/lib/$EB_NAME/images/" 'index($0, img) != 1 || !seen++ { print "  /" $0 }'
		eb_say "would switch current to $eb_in_version (now: $(eb_current_version))"
		return 0
	fi

	for eb_in_dir in "$EB_STATE" "$EB_LIB"; do
		[ -d "$eb_in_dir" ] || EB_MADE_DIRS="$eb_in_dir $EB_MADE_DIRS"
	done
	eb_lock
	trap 'eb_cleanup' EXIT
	trap 'eb_cleanup; exit 130' INT TERM HUP
	mkdir -p "$EB_LIB" "$EB_STATE"
	# What an install killed outright (SIGKILL, power loss) left; no other install runs (the lock).
	for eb_in_old in "$EB_LIB"/.staging.*; do
		if [ -d "$eb_in_old" ]; then rm -rf "$eb_in_old"; fi
	done
	# Staged next to the images, on the same file system, so that moving into place is a rename.
	EB_STAGING=$(mktemp -d "$EB_LIB/.staging.XXXXXX")
	tar --zstd -xpf "$EB_ARCHIVE" --numeric-owner -C "$EB_STAGING" || eb_die "extracting $eb_in_file failed; nothing was changed"

	# The switch: renames only, so it takes moments; an interrupt waits for it to finish (the
	# ignored signals are inherited by mv, so no rename is cut off either).
	trap '' INT TERM HUP
	# The image: a version already here is never replaced, since containers may run on it.
	eb_in_img="usr/lib/$EB_NAME/images/$eb_in_version"
	if eb_image_complete "$eb_in_version"; then
		eb_say "image $eb_in_version is already installed"
	else
		[ -e "$EB_IMAGES/$eb_in_version" ] && rm -rf "${EB_IMAGES:?}/$eb_in_version"
		mkdir -p "$EB_IMAGES"
		mv -T "$EB_STAGING/$eb_in_img" "$EB_IMAGES/$eb_in_version"
		eb_say "installed image $eb_in_version"
	fi

	# The host files, each renamed into place; files an older version had and this one lacks go.
	eb_in_list="$EB_STATE/install.sh.files"
	eb_members >"$EB_LISTING.members"
	while read -r eb_in_path; do
		case "$eb_in_path" in "usr/lib/$EB_NAME/images" | "usr/lib/$EB_NAME/images/"*) continue ;; esac
		eb_in_src="$EB_STAGING/$eb_in_path"
		eb_in_dst="$EB_ROOT_DIR/$eb_in_path"
		if [ -d "$eb_in_src" ] && ! [ -L "$eb_in_src" ]; then
			mkdir -p "$eb_in_dst"
			continue
		fi
		mkdir -p "$(dirname "$eb_in_dst")"
		case "$eb_in_path" in
		"etc/$EB_NAME/"*) eb_install_conffile "$eb_in_src" "$eb_in_dst" "$eb_in_path" ;;
		*) mv -f "$eb_in_src" "$eb_in_dst" ;;
		esac
		printf '%s\n' "$eb_in_path"
	done <"$EB_LISTING.members" >"$eb_in_list.new"
	if [ -f "$eb_in_list" ]; then
		sort "$eb_in_list.new" >"$eb_in_list.sorted"
		sort "$eb_in_list" | comm -23 - "$eb_in_list.sorted" | while read -r eb_in_gone; do
			rm -f "$EB_ROOT_DIR/$eb_in_gone"
		done
		rm -f "$eb_in_list.sorted"
	fi
	mv -f "$eb_in_list.new" "$eb_in_list"
	rm -rf "$EB_STAGING"
	EB_STAGING=

	eb_configure_host "$eb_in_version" install.sh
	EB_DONE=1
	trap 'eb_cleanup; exit 130' INT TERM HUP
	eb_enable_socket
	eb_say "$EB_NAME $eb_in_version is installed; new connections get image $(eb_current_version)"
	eb_say "next: ${EB_NAME}ctl runner-config prints the GitLab Runner configuration"
}

cmd_use() {
	[ "$#" -eq 1 ] || eb_die "usage: sh install.sh use VERSION"
	eb_lock
	eb_switch_current "$1"
	eb_say "new connections get image $1"
}

cmd_rollback() {
	eb_lock
	eb_rb_to=$(eb_previous_version)
	[ -n "$eb_rb_to" ] || eb_die "no previous image recorded"
	eb_switch_current "$eb_rb_to"
	eb_say "rolled back: new connections get image $eb_rb_to"
}

cmd_uninstall() {
	eb_refuse_dpkg
	eb_un_by=$(eb_installed_by)
	if [ -z "$eb_un_by" ] && ! [ -e "$EB_STATE" ] && ! [ -e "$EB_LIB" ]; then
		eb_say "$EB_NAME is not installed"
		return 0
	fi
	[ "$eb_un_by" = install.sh ] || [ -z "$eb_un_by" ] || eb_die "this host was set up by $eb_un_by, not install.sh"
	eb_un_live=$(eb_live_containers)
	if [ -n "$eb_un_live" ]; then
		eb_die "containers are running: $(printf '%s\n' "$eb_un_live" | awk '{ print $1 }' | tr '\n' ' ')(stop them with: systemctl stop '$EB_NAME@*.service')"
	fi
	eb_lock
	eb_disable_socket
	if [ -f "$EB_STATE/install.sh.files" ]; then
		while read -r eb_un_path; do
			eb_run rm -f "$EB_ROOT_DIR/$eb_un_path"
		done <"$EB_STATE/install.sh.files"
	fi
	for eb_un_v in $(eb_versions); do
		eb_run rm -rf "${EB_IMAGES:?}/$eb_un_v"
	done
	eb_run rm -rf "${EB_LIB:?}" "${EB_ETC:?}" "$EB_ROOT_DIR/usr/share/doc/$EB_NAME"
	for eb_un_doc in "$EB_ROOT_DIR/usr/share/doc/$EB_NAME-"* "$EB_ROOT_DIR/usr/share/lintian/overrides/$EB_NAME"*; do
		[ -e "$eb_un_doc" ] && eb_run rm -rf "$eb_un_doc"
	done
	eb_run rm -rf "${EB_STATE:?}"
	if [ -z "$EB_ROOT_DIR" ] && [ -d /run/systemd/system ]; then
		eb_run systemctl daemon-reload
	fi
	eb_say "$EB_NAME is uninstalled"
}

cmd_status() {
	eb_s_by=$(eb_installed_by)
	if [ -z "$eb_s_by" ]; then
		eb_say "$EB_NAME is not installed in ${EB_ROOT_DIR:-/}"
		return 0
	fi
	eb_say "installed by: $eb_s_by"
	eb_say "current:      $(eb_current_version)"
	eb_s_prev=$(eb_previous_version)
	[ -z "$eb_s_prev" ] || eb_say "previous:     $eb_s_prev"
	eb_say "images:       $(eb_versions | tr '\n' ' ')"
	eb_say "containers:   $(eb_live_containers | grep -c . || true)"
	if [ -z "$EB_ROOT_DIR" ] && [ -d /run/systemd/system ]; then
		eb_say "socket:       $(systemctl is-active "$EB_NAME.socket" 2>/dev/null || true), $(systemctl is-enabled "$EB_NAME.socket" 2>/dev/null || true)"
	fi
}

eb_command=
eb_args=
# The option whose value comes next.
eb_want=
for eb_arg in "$@"; do
	case "$eb_want" in
	--fingerprint)
		eb_fp_given=$(eb_fingerprint "$eb_arg")
		EB_FINGERPRINTS="${EB_FINGERPRINTS:+$EB_FINGERPRINTS }$eb_fp_given"
		;;
	--keyring) EB_KEYRING=$eb_arg ;;
	esac
	if [ -n "$eb_want" ]; then
		eb_want=
		continue
	fi
	case "$eb_arg" in
	--root | --fingerprint | --keyring) eb_want=$eb_arg ;;
	--fingerprint=*)
		eb_fp_given=$(eb_fingerprint "${eb_arg#--fingerprint=}")
		EB_FINGERPRINTS="${EB_FINGERPRINTS:+$EB_FINGERPRINTS }$eb_fp_given"
		;;
	--keyring=*) EB_KEYRING=${eb_arg#--keyring=} ;;
	--insecure) EB_INSECURE=1 ;;
	--root=* | --dry-run) ;;
	-h | --help | help)
		usage
		exit 0
		;;
	-*) eb_die "unknown option $eb_arg (see --help)" ;;
	*)
		if [ -z "$eb_command" ]; then
			eb_command=$eb_arg
		elif [ -z "$eb_args" ]; then
			eb_args=$eb_arg
		else
			eb_die "too many arguments (see --help)"
		fi
		;;
	esac
done
[ -z "$eb_want" ] || eb_die "$eb_want needs a value (see --help)"

case "$eb_command" in
install | upgrade)
	[ -n "$eb_args" ] || eb_die "usage: sh install.sh $eb_command FILE.tar.zst"
	cmd_install "$eb_command" "$eb_args"
	;;
use)
	[ -n "$eb_args" ] || eb_die "usage: sh install.sh use VERSION"
	cmd_use "$eb_args"
	;;
rollback) cmd_rollback ;;
uninstall) cmd_uninstall ;;
status) cmd_status ;;
'')
	usage >&2
	exit 2
	;;
*) eb_die "unknown command $eb_command (see --help)" ;;
esac
