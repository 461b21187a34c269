#!/bin/sh
# Installs everything ephemeral-builder needs on a fresh Debian (12 or 13) machine, as root: the
# build machine's tools the pipeline runs, the tools the test suite checks against, npm, and the npm
# dependencies pinned by package-lock.json (Node.js 24 comes from the npm package node@24).
set -eu
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (it installs Debian packages)" >&2
	exit 2
fi

# Build: mmdebstrap/debootstrap bootstrap, nspawn runs the verify session, ssh talks to it,
#        tar/zstd/xz pack, dpkg-deb and gpg for packages and the apt repository.
#        qemu-user-static with binfmt-support registers qemu for foreign architectures (binfmt_misc,
#        with the F flag), so that an arm64 image builds and verifies on an amd64 machine.
# Tests: lintian, shellcheck, systemd (systemd-analyze), attr (xattr checks), apt, curl, iproute2,
#        nftables (a booted test host with a network of its own is masqueraded through this machine).
# Tests and benchmarks: git (the e2e jobs clone a repository), GNU time (bench CPU times).
# Release CI: jq writes the Releases API request (scripts/ci/create-release.sh).
PACKAGES="mmdebstrap debootstrap systemd-container openssh-client openssh-server tar zstd xz-utils
gnupg ca-certificates arch-test uidmap lintian shellcheck systemd attr apt curl iproute2 nftables rsync util-linux
git time jq qemu-user-static binfmt-support"

# npm only where there is none: a machine whose nodejs comes from elsewhere (nodesource) ships its
# own npm, and Debian's npm package conflicts with it.
command -v npm >/dev/null 2>&1 || PACKAGES="npm $PACKAGES"

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $PACKAGES

# npm ci installs exactly the lockfile. npm on Debian may be older than the lockfile's Node 24
# engine; the packages still install, and every script then runs on node_modules/.bin/node (24).
npm ci --no-audit --no-fund
node_modules/.bin/node --version
