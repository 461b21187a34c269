// A few-megabyte root filesystem made inside a booted host from the host's own binaries (each
// with the libraries ldd names), for showing that nested systemd-nspawn works there without
// bootstrapping a second Debian. The host is merged-/usr, so /bin, /lib and /lib64 are links.
import type { BootedHost } from './boot.ts';

export const TINY_TREE_COMMANDS = ['true', 'cat', 'id', 'hostname', 'sleep', 'sh'];

export async function makeTinyTree(host: BootedHost, dir = '/var/lib/machines/tiny'): Promise<string> {
  const bins = TINY_TREE_COMMANDS.map((c) => `/usr/bin/${c}`).join(' ');
  await host.execOk(`set -eu
T=${dir}
rm -rf "$T"
mkdir -p "$T/usr/bin" "$T/etc" "$T/proc" "$T/sys" "$T/dev" "$T/run" "$T/tmp"
for b in ${bins}; do cp -L "$b" "$T/usr/bin/"; done
for l in $(ldd ${bins} | awk '/=>/ {print $3} /^\\t\\// {print $1}' | sort -u); do
  d="$T/usr\${l#/usr}"; mkdir -p "$(dirname "$d")"; cp -L "$l" "$d"
done
ln -s usr/bin "$T/bin"; ln -s usr/lib "$T/lib"; ln -s usr/lib64 "$T/lib64"
cp /usr/lib/os-release "$T/usr/lib/os-release"
`);
  return dir;
}
