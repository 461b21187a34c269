# Shared host logic of @NAME@, inlined at pack time (by pipeline/host-package/render.ts, at each
# "#@include common.sh" line) into the maintainer scripts, install.sh and @NAME@ctl, so that the
# .deb and install.sh lay a host out with the very same code: keys, the `current` link, the
# image list, the live containers.
#
# EB_ROOT=DIR (or install.sh --root DIR) runs everything against DIR instead of /, for tests and
# offline preparation; dpkg's DPKG_ROOT is honoured the same way. Nothing here changes systemd's
# state (it only reads it).

EB_NAME='@NAME@'
EB_ROOT_DIR=${EB_ROOT:-${DPKG_ROOT:-}}
EB_ROOT_DIR=${EB_ROOT_DIR%/}
EB_ETC="$EB_ROOT_DIR/etc/$EB_NAME"
EB_STATE="$EB_ROOT_DIR/var/lib/$EB_NAME"
EB_LIB="$EB_ROOT_DIR/usr/lib/$EB_NAME"
EB_IMAGES="$EB_LIB/images"
EB_CONF="$EB_ETC/$EB_NAME.conf"
# nspawn's system call filter, stored by eb_refresh_syscall_filter (see syscall-filter).
EB_FILTER="$EB_STATE/syscall-filter"
# The link from the state directory back to the images, relative so that it also resolves
# below EB_ROOT: /var/lib/NAME/current -> ../../../usr/lib/NAME/images/VERSION.
EB_IMAGES_REL="../../../usr/lib/$EB_NAME/images"
# Where container-init lives in every image (the image contract, not the recipe's name).
EB_CONTAINER_INIT=@CONTAINER_INIT@
EB_PROG=${EB_PROG:-$EB_NAME}
EB_DRY_RUN=${EB_DRY_RUN:-0}
# What these scripts make is root's and never group- or world-writable, whatever umask the admin's
# shell has (install.sh and the host tool run from it): nobody else may put a file or a link
# where root writes next.
umask 022

eb_say() {
	printf '%s\n' "$*"
}

eb_warn() {
	printf '%s: warning: %s\n' "$EB_PROG" "$*" >&2
}

# The exit status of eb_die: 1, except where a command reserves 1 for an answer (outdated: 1 is
# "something is behind", so its errors are 2).
EB_DIE_STATUS=1
eb_die() {
	printf '%s: error: %s\n' "$EB_PROG" "$*" >&2
	exit "$EB_DIE_STATUS"
}

# Writes stdin to FILE with mode MODE: into a new file of a random name next to it (mktemp makes it
# with O_EXCL, so never through a file or link someone put there), then renamed over FILE, which
# replaces a link there instead of following it. Readers see the old file or the new one.
eb_write_file() {
	eb_wf_tmp=$(mktemp "$1.XXXXXX") || eb_die "cannot create a file next to $1"
	if cat >"$eb_wf_tmp" && chmod "$2" "$eb_wf_tmp" && mv -f "$eb_wf_tmp" "$1"; then
		return 0
	fi
	rm -f "$eb_wf_tmp"
	eb_die "cannot write $1"
}

# Every change to the host goes through eb_run, so that --dry-run shows it instead.
eb_run() {
	if [ "$EB_DRY_RUN" = 1 ]; then
		printf 'would run:' >&2
		printf ' %s' "$@" >&2
		printf '\n' >&2
		return 0
	fi
	"$@"
}

# The live containers of this host, one line each: "MACHINE IMAGE_DIR PID" (PID: nspawn's). On a
# running host they are found from what systemd records, which no job can forge: the main process
# of every @NAME@@.service instance (nspawn, which spawn execs), and the machines named
# NAME-x-PID (`shell`, doctor: the PID is nspawn's). Each one's machine name and image then come
# from that nspawn's own command line. A job can give any process any arguments (`exec -a
# systemd-nspawn ... --directory=IMAGE`), so no other process's count: a forged one must not keep
# an image from gc for ever. Where systemd does not run (EB_ROOT trees, a chroot), no connection
# can; containers started there by hand are found by their nspawn command lines.
eb_live_containers() {
	if [ -z "$EB_ROOT_DIR" ] && [ -d /run/systemd/system ]; then
		set --
		eb_lc_units=$(systemctl show -p MainPID --value "$EB_NAME@*.service" 2>/dev/null || true)
		eb_lc_shells=$(machinectl list --no-legend 2>/dev/null | sed -n "s/^$EB_NAME-x-\([0-9][0-9]*\) .*/\1/p")
		for eb_lc_pid in $eb_lc_units $eb_lc_shells; do
			[ "$eb_lc_pid" = 0 ] || set -- "$@" "/proc/$eb_lc_pid/cmdline"
		done
		[ "$#" -gt 0 ] || return 0
	else
		set -- /proc/[0-9]*/cmdline
	fi
	# grep -z reads each command line as NUL-separated arguments and prints FILE:ARGUMENT for the
	# three that matter (one grep, however many containers); -s skips processes gone meanwhile.
	grep -a -z -H -s -e '(^|/)systemd-nspawn$' -e "^--machine=$EB_NAME-" -e '^--directory=' -E "$@" |
		awk -v name="$EB_NAME" 'BEGIN { RS = "\0" }
			{
				split($0, p, "/"); pid = p[3]
				arg = substr($0, length("/proc/" pid "/cmdline:") + 1)
				if (arg ~ /(^|\/)systemd-nspawn$/) nspawn[pid] = 1
				# Ours are NAME-CONNECTION-PID (see the spawn helper), not just anything named NAME-*.
				else if (index(arg, "--machine=" name "-") == 1 && substr(arg, 11 + length(name)) ~ /^-(x|[0-9]+)-[0-9]+$/) m[pid] = substr(arg, 11)
				else if (index(arg, "--directory=") == 1) d[pid] = substr(arg, 13)
			}
			END { for (pid in m) if (pid in nspawn && pid in d) print m[pid], d[pid], pid }' |
		sort -u -k1,1
}

# Prints the machines (one per line) whose root is image VERSION.
eb_containers_using() {
	eb_cu_dir=$(readlink -f "$EB_IMAGES/$1" 2>/dev/null) || return 0
	eb_live_containers | awk -v dir="$eb_cu_dir" '$2 == dir { print $1 }'
}

# The version a link (current or previous) points at, in EB_LINK_VERSION, without starting a
# process: `use` runs within the 100 ms a switch may take, and every process start counts. A
# link to a removed image gives "".
eb_link_version() {
	EB_LINK_VERSION=
	[ -L "$EB_STATE/$1" ] || return 0
	eb_lv_pwd=$PWD
	if cd -P "$EB_STATE/$1" 2>/dev/null; then
		EB_LINK_VERSION=${PWD##*/}
		cd "$eb_lv_pwd" || true
	fi
}

eb_current_version() {
	eb_link_version current
	[ -z "$EB_LINK_VERSION" ] || printf '%s\n' "$EB_LINK_VERSION"
}

eb_previous_version() {
	eb_link_version previous
	[ -z "$EB_LINK_VERSION" ] || printf '%s\n' "$EB_LINK_VERSION"
}

# An image is usable when the things every connection needs are in it. dpkg unpacks file by file
# and install.sh renames whole trees into place, so a directory alone proves nothing.
eb_image_complete() {
	eb_ic_dir="$EB_IMAGES/$1"
	[ -d "$eb_ic_dir" ] && [ -x "$eb_ic_dir$EB_CONTAINER_INIT" ] && [ -e "$eb_ic_dir/usr/sbin/sshd" ] &&
		[ -d "$eb_ic_dir@KEY_DIR@" ] && [ -d "$eb_ic_dir/home/@USER@" ]
}

# What image VERSION says of itself: the value of KEY (IMAGE_DATE, IMAGE_ARCHITECTURE...) in its
# image.env, written when it was packed; nothing for an image packed before images had one. The
# file is read, never sourced: nothing an image holds runs in the host's shell.
eb_image_info() {
	[ -r "$EB_IMAGES/$1@IMAGE_INFO@" ] || return 0
	sed -n "s/^$2=//p" "$EB_IMAGES/$1@IMAGE_INFO@" | head -n 1
}

# The date of image VERSION in seconds since the epoch: its IMAGE_DATE, the newest Release date of
# the sources it was built from (its packages are those of that day); nothing for an image
# without image.env.
eb_image_epoch() {
	eb_ie=$(eb_image_info "$1" IMAGE_DATE)
	case "$eb_ie" in '' | *[!0-9]*) return 0 ;; esac
	printf '%s\n' "$eb_ie"
}

# "YYYY-MM-DD HH:MM UTC" of a time in seconds since the epoch.
eb_utc_date() {
	date -u -d "@$1" '+%Y-%m-%d %H:%M UTC'
}

# Whole days since a time in seconds since the epoch: "1 day", "3 days".
eb_age() {
	eb_ag=$((($(date +%s) - $1) / 86400))
	# A host clock behind the archive's would make it younger than new.
	[ "$eb_ag" -ge 0 ] || eb_ag=0
	if [ "$eb_ag" = 1 ]; then echo '1 day'; else echo "$eb_ag days"; fi
}

# Semantic versions compare like Debian versions once a pre-release dash becomes a tilde
# (1.4.0-rc.1 < 1.4.0), which is how the packages are versioned too.
eb_debversion() {
	printf '%s\n' "$1" | sed 's/-/~/'
}

# True when version $1 sorts after version $2.
eb_version_gt() {
	if command -v dpkg >/dev/null 2>&1; then
		dpkg --compare-versions "$(eb_debversion "$1")" gt "$(eb_debversion "$2")"
	else
		[ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]
	fi
}

# Installed image versions, oldest first.
eb_versions() {
	[ -d "$EB_IMAGES" ] || return 0
	eb_v_sorted=
	for eb_v_dir in "$EB_IMAGES"/*/; do
		[ -d "$eb_v_dir" ] || continue
		eb_v=${eb_v_dir%/}
		eb_v=${eb_v##*/}
		case "$eb_v" in .*) continue ;; esac
		# Insertion sort: a host keeps a handful of images, and dpkg's ordering is the one apt uses.
		eb_v_out=
		eb_v_placed=0
		for eb_v_have in $eb_v_sorted; do
			if [ "$eb_v_placed" = 0 ] && eb_version_gt "$eb_v_have" "$eb_v"; then
				eb_v_out="$eb_v_out $eb_v"
				eb_v_placed=1
			fi
			eb_v_out="$eb_v_out $eb_v_have"
		done
		[ "$eb_v_placed" = 1 ] || eb_v_out="$eb_v_out $eb_v"
		eb_v_sorted=$eb_v_out
	done
	for eb_v in $eb_v_sorted; do printf '%s\n' "$eb_v"; done
}

# The package that owns image VERSION, or nothing when install.sh (or a person) put it there.
eb_image_package() {
	command -v dpkg-query >/dev/null 2>&1 || return 0
	dpkg-query --root="${EB_ROOT_DIR:-/}" -S "/usr/lib/$EB_NAME/images/$1" 2>/dev/null | sed -n 's/^\([^:,]*\)[:,].*/\1/p' | head -n 1
}

# True when dpkg has the host package in any state but "not installed".
eb_dpkg_has_host() {
	command -v dpkg-query >/dev/null 2>&1 || return 1
	eb_dh_status=$(dpkg-query --root="${EB_ROOT_DIR:-/}" -W -f='${db:Status-Status}' "$EB_NAME" 2>/dev/null) || return 1
	[ -n "$eb_dh_status" ] && [ "$eb_dh_status" != not-installed ]
}

# Who laid this host out: "dpkg", "install.sh", or nothing.
eb_installed_by() {
	[ -r "$EB_STATE/installed-by" ] || return 0
	head -n 1 "$EB_STATE/installed-by"
}

eb_set_installed_by() {
	if [ "$EB_DRY_RUN" = 1 ]; then
		printf 'would write %s: %s\n' "$EB_STATE/installed-by" "$1" >&2
		return 0
	fi
	mkdir -p "$EB_STATE"
	printf '%s\n' "$1" | eb_write_file "$EB_STATE/installed-by" 0644
}

# Mutations of the state (use, rollback, gc, install) take this lock: a file created with
# noclobber (O_EXCL), holding our PID. A lock left by a process that died is taken over.
EB_LOCKED=0
eb_lock() {
	[ "$EB_DRY_RUN" != 1 ] || return 0
	[ -d "$EB_STATE" ] || mkdir -p "$EB_STATE"
	eb_lock_tries=0
	set -C
	while ! { echo $$ >"$EB_STATE/lock"; } 2>/dev/null; do
		set +C
		eb_lock_pid=
		IFS= read -r eb_lock_pid <"$EB_STATE/lock" 2>/dev/null || true
		if [ -n "$eb_lock_pid" ] && ! kill -0 "$eb_lock_pid" 2>/dev/null; then
			rm -f "$EB_STATE/lock"
		else
			eb_lock_tries=$((eb_lock_tries + 1))
			[ "$eb_lock_tries" -lt 50 ] || eb_die "$EB_STATE/lock is held by process ${eb_lock_pid:-?}; try again when it is done"
			sleep 0.1
		fi
		set -C
	done
	set +C
	EB_LOCKED=1
	trap 'eb_unlock' EXIT
	trap 'eb_unlock; exit 130' INT TERM
}

eb_unlock() {
	[ "$EB_LOCKED" = 1 ] || return 0
	rm -f "$EB_STATE/lock"
	EB_LOCKED=0
}

# Points link NAME (current or previous) at image VERSION, atomically: GNU ln -sfn makes the new
# link under a temporary name and renames it over the old one (coreutils' force_symlinkat; seen
# with strace on coreutils 9.1), so a connection reads either the old or the new image.
eb_set_link() {
	[ -d "$EB_STATE" ] || eb_run mkdir -p "$EB_STATE"
	eb_run ln -sfn "$EB_IMAGES_REL/$2" "$EB_STATE/$1"
}

# Switches `current` to VERSION and remembers the version it replaces as `previous`. Running
# containers keep the image they started with: the spawn helper resolved the link once.
eb_switch_current() {
	eb_image_complete "$1" || eb_die "image $1 is not installed (or incomplete) in $EB_IMAGES; installed: $(eb_versions | tr '\n' ' ')"
	eb_link_version current
	eb_sc_old=$EB_LINK_VERSION
	[ "$eb_sc_old" != "$1" ] || return 0
	eb_set_link current "$1"
	if [ -n "$eb_sc_old" ] && eb_image_complete "$eb_sc_old"; then
		eb_set_link previous "$eb_sc_old"
	fi
}

# After an image went away: if `current` (or `previous`) pointed at it, point `current` at the
# newest image left, or remove the link when none is left.
eb_repair_links() {
	if [ -L "$EB_STATE/previous" ] && ! eb_image_complete "$(eb_previous_version)"; then
		eb_run rm -f "$EB_STATE/previous"
	fi
	[ -L "$EB_STATE/current" ] || return 0
	eb_image_complete "$(eb_current_version)" && return 0
	eb_rl_newest=$(eb_versions | while read -r v; do eb_image_complete "$v" && echo "$v"; done | tail -n 1)
	if [ -n "$eb_rl_newest" ]; then
		eb_warn "the current image is gone; switching to $eb_rl_newest"
		eb_set_link current "$eb_rl_newest"
		# Rolling back to the image we now run would be no rollback.
		eb_link_version previous
		[ "$EB_LINK_VERSION" != "$eb_rl_newest" ] || eb_run rm -f "$EB_STATE/previous"
	else
		eb_run rm -f "$EB_STATE/current"
	fi
}

# The address GitLab Runner connects to: RUNNER_HOST from the config, else the socket's listen
# address (a wildcard address means "this host", so the host's name).
eb_listen() {
	eb_l=
	if [ -z "$EB_ROOT_DIR" ] && [ -d /run/systemd/system ]; then
		eb_l=$(systemctl show -P Listen "$EB_NAME.socket" 2>/dev/null | sed -n 's/ (Stream)$//p' | head -n 1)
	fi
	[ -n "$eb_l" ] || eb_l='@LISTEN_STREAM@'
	printf '%s\n' "$eb_l"
}

eb_port() {
	eb_p=$(eb_listen)
	printf '%s\n' "${eb_p##*:}"
}

# The value of KEY in the config file (empty when unset or without a file), read in a subshell so
# that the file's other settings do not leak into ours.
eb_conf() {
	[ -r "$EB_CONF" ] || return 0
	# shellcheck source=/dev/null
	(. "$EB_CONF" && eval "printf '%s' \"\${$1-}\"")
}

eb_runner_host() {
	eb_rh=$(eb_conf RUNNER_HOST)
	if [ -z "$eb_rh" ]; then
		eb_rh=$(eb_listen)
		eb_rh=${eb_rh%:*}
		eb_rh=${eb_rh#[}
		eb_rh=${eb_rh%]}
		case "$eb_rh" in
		0.0.0.0 | :: | '') eb_rh=$(hostname -f 2>/dev/null || hostname) ;;
		esac
	fi
	printf '%s\n' "$eb_rh"
}

# known_hosts lines for the host keys, ECDSA first (GitLab Runner's preference). A non-22 port is
# written "[host]:port", as ssh looks it up.
eb_known_hosts() {
	eb_kh_host=$(eb_runner_host)
	eb_kh_port=$(eb_port)
	if [ "$eb_kh_port" = 22 ]; then
		case "$eb_kh_host" in *:*) eb_kh_host="[$eb_kh_host]" ;; esac
	else
		eb_kh_host="[$eb_kh_host]:$eb_kh_port"
	fi
	for eb_kh_type in ecdsa rsa ed25519; do
		eb_kh_pub="$EB_ETC/ssh/ssh_host_${eb_kh_type}_key.pub"
		[ -r "$eb_kh_pub" ] || continue
		awk -v host="$eb_kh_host" '{ print host, $1, $2 }' "$eb_kh_pub"
	done
}

eb_write_known_hosts() {
	eb_run mkdir -p "$EB_ETC/runner"
	[ "$EB_DRY_RUN" = 1 ] && return 0
	eb_known_hosts | eb_write_file "$EB_ETC/runner/known_hosts" 0644
}

# Per-host keys, made once: the sshd host keys (ECDSA, RSA, Ed25519) and the runner's key pair.
# The container sees /etc/NAME/ssh read-only at @KEY_DIR@, mapped so that its root reads
# the private keys and the builder does not. authorized_keys holds the runner's public key,
# restricted to what the SSH executor needs (no pty, no forwarding).
eb_generate_keys() {
	eb_run mkdir -p "$EB_ETC/ssh" "$EB_ETC/runner"
	eb_run chmod 0755 "$EB_ETC/ssh"
	eb_run chmod 0700 "$EB_ETC/runner"
	eb_gk_comment="$EB_NAME@$(hostname 2>/dev/null || echo host)"
	for eb_gk_type in ecdsa rsa ed25519; do
		eb_gk_key="$EB_ETC/ssh/ssh_host_${eb_gk_type}_key"
		[ -f "$eb_gk_key" ] && [ -f "$eb_gk_key.pub" ] && continue
		eb_new_key "$eb_gk_type" "$eb_gk_key" "$eb_gk_comment"
	done
	eb_gk_runner="$EB_ETC/runner/id_ed25519"
	if ! [ -f "$eb_gk_runner" ] || ! [ -f "$eb_gk_runner.pub" ]; then
		eb_new_key ed25519 "$eb_gk_runner" "gitlab-runner@$EB_NAME"
	fi
	if ! [ -f "$EB_ETC/ssh/authorized_keys" ] && [ "$EB_DRY_RUN" != 1 ]; then
		{
			echo "# GitLab Runner's key (/etc/$EB_NAME/runner/id_ed25519). Add other keys on their own lines."
			printf 'restrict %s\n' "$(cat "$eb_gk_runner.pub")"
		} | eb_write_file "$EB_ETC/ssh/authorized_keys" 0644
	fi
}

# ssh-keygen into a new private directory next to the key (mktemp -d, so never through a link
# someone put there), then rename: an interrupted run never leaves half a key pair.
eb_new_key() {
	if [ "$EB_DRY_RUN" = 1 ]; then
		eb_run ssh-keygen -q -t "$1" -N '' -C "$3" -f "$2"
		return 0
	fi
	eb_nk_dir=$(mktemp -d "$2.XXXXXX") || eb_die "cannot create a directory next to $2"
	if ! { ssh-keygen -q -t "$1" -N '' -C "$3" -f "$eb_nk_dir/key" && chmod 0600 "$eb_nk_dir/key" &&
		chmod 0644 "$eb_nk_dir/key.pub" && mv -f "$eb_nk_dir/key.pub" "$2.pub" && mv -f "$eb_nk_dir/key" "$2"; }; then
		rm -rf "$eb_nk_dir"
		eb_die "cannot make the key $2"
	fi
	rmdir "$eb_nk_dir"
}

# Starts one container and stores the filter nspawn made for it (ctl refresh-filter).
eb_refresh_syscall_filter() {
	perl "$EB_LIB/syscall-filter" refresh "$EB_FILTER" "$EB_LIB/spawn"
}

# The same on install: on a running host only, as it starts a container. Failing is not fatal:
# nspawn then compiles the filter for each container, as it does without us.
eb_store_syscall_filter() {
	[ -z "$EB_ROOT_DIR" ] && [ -d /run/systemd/system ] || return 0
	if [ "$EB_DRY_RUN" = 1 ]; then
		eb_run eb_refresh_syscall_filter
		return 0
	fi
	if ! eb_sf_out=$(eb_refresh_syscall_filter 2>&1 </dev/null); then
		eb_warn "nspawn's system call filter was not stored, so nspawn compiles it for every container (about 30 ms a connection): $(printf '%s' "$eb_sf_out" | tail -n 1). Retry with ${EB_NAME}ctl refresh-filter."
	fi
}

# What the .deb's postinst and install.sh both do once the files are in place.
eb_configure_host() {
	eb_generate_keys
	eb_write_known_hosts
	eb_switch_current "$1"
	eb_set_installed_by "$2"
	eb_store_syscall_filter
}
