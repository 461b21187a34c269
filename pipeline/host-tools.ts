// The host tools each stage needs, and the Debian package that provides each one, so that a
// missing tool is reported as the apt-get line that fixes it.
import { execaSync } from 'execa';
import { HostToolMissing } from './errors.ts';

export const TOOL_PACKAGES: Record<string, string> = {
  mmdebstrap: 'mmdebstrap',
  debootstrap: 'debootstrap',
  'systemd-nspawn': 'systemd-container',
  tar: 'tar',
  zstd: 'zstd',
  xz: 'xz-utils',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  'dpkg-deb': 'dpkg',
  gpg: 'gnupg',
  umount: 'mount',
  cc: 'gcc libc6-dev',
  'dpkg-buildflags': 'dpkg-dev',
  'dpkg-shlibdeps': 'dpkg-dev',
};

/**
 * The Debian packages a build machine installs: every tool's above, and ca-certificates and curl
 * for the release jobs' downloads and API calls (the setup.sh that `init` writes lists these).
 */
export const BUILD_MACHINE_PACKAGES: string[] = [...new Set([...Object.values(TOOL_PACKAGES).flatMap((p) => p.split(' ')), 'ca-certificates', 'curl'])].sort();

export function hasTool(tool: string): boolean {
  return execaSync('sh', ['-c', `command -v "$1" >/dev/null`, 'sh', tool], { reject: false }).exitCode === 0;
}

/** Throws HostToolMissing naming the package for the first tool that is not on PATH. */
export function requireTools(tools: string[]): void {
  for (const tool of tools) {
    if (!hasTool(tool)) throw new HostToolMissing(tool, TOOL_PACKAGES[tool] ?? tool);
  }
}

export function requireRoot(why: string): void {
  if (process.getuid?.() !== 0) {
    throw new HostToolMissing('root', 'sudo', `must run as root: ${why}. Run it again with sudo (apt-get install sudo if it is missing)`);
  }
}
