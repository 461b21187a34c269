#!/bin/sh
# First process of every ephemeral-builder container. The connection is on stdin/stdout.
# Fills the tmpfs home from the template (so each job starts from the same home) and hands the
# connection to sshd in inetd mode. With --exec CMD..., prepares the home the same way and runs
# CMD instead (debug shells).
set -eu

# Written by the container-init overlay from the recipe and the image contract: BUILDER_USER,
# BUILDER_UID, BUILDER_GID, BUILDER_HOME and BUILDER_TEMPLATE (the path below is filled in too).
# shellcheck source=/dev/null
. @BUILDER_ENV@

home=$BUILDER_HOME
# cp -a gives the home the template directory's own owner and mode too (the builder's, 0700:
# the verify stage checks both), which saves a chown and a chmod process on every connection.
cp -a "$BUILDER_TEMPLATE/." "$home/"
# sshd's privilege separation directory: the host's spawn mounts a tmpfs there. Made here only
# when an older spawn did not; [ is built into the shell, so checking costs no process.
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd

if [ "${1-}" = "--exec" ]; then
	shift
	exec "$@"
fi
# -e: log to stderr, which the host's service sends to its journal (there is no syslog here).
exec /usr/sbin/sshd -i -e
