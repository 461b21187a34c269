// The build machine: the tools each stage needs, and the Debian package that provides each one, so that a
// missing tool is reported as the apt-get line that fixes it; and whether the build machine can
// run another architecture's programs (an image for it is bootstrapped and verified under qemu).
import { execaSync } from 'execa';
import { ToolMissing } from './errors.ts';

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
  'arch-test': 'arch-test',
};

/**
 * The Debian packages a build machine installs (the setup.sh that `init` writes lists these): every
 * tool's above, ca-certificates and curl for the release jobs' downloads and API calls, and qemu
 * (registered for binfmt_misc) for images of another architecture.
 */
export const BUILD_MACHINE_PACKAGES: string[] = [
  ...new Set([...Object.values(TOOL_PACKAGES).flatMap((p) => p.split(' ')), 'ca-certificates', 'curl', 'qemu-user-static', 'binfmt-support']),
].sort();

const DEBIAN_ARCHITECTURES: Partial<Record<NodeJS.Architecture, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'armhf',
  ia32: 'i386',
  ppc64: 'ppc64el',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The build machine's Debian architecture (amd64 on x86-64). */
export function buildMachineArchitecture(): string {
  return DEBIAN_ARCHITECTURES[process.arch] ?? process.arch;
}

export function hasTool(tool: string): boolean {
  return execaSync('sh', ['-c', `command -v "$1" >/dev/null`, 'sh', tool], { reject: false }).exitCode === 0;
}

/** Throws ToolMissing naming the package for the first tool that is not on PATH. */
export function requireTools(tools: string[]): void {
  for (const tool of tools) {
    if (!hasTool(tool)) throw new ToolMissing(tool, TOOL_PACKAGES[tool] ?? tool);
  }
}

export function requireRoot(why: string): void {
  if (process.getuid?.() !== 0) {
    throw new ToolMissing('root', 'sudo', `must run as root: ${why}. Run it again with sudo (apt-get install sudo if it is missing)`);
  }
}

/**
 * Refuses, before anything is downloaded, an image architecture whose programs this machine cannot
 * run: bootstrapping it runs its maintainer scripts, and verifying it runs its sshd. arch-test
 * (mmdebstrap's own check) tries a real program of that architecture.
 */
export function requireRunnable(architecture: string, buildMachine: string): void {
  if (architecture === buildMachine) return;
  requireTools(['arch-test']);
  const r = execaSync('arch-test', [architecture], { reject: false });
  if (r.exitCode === 0) return;
  throw new ToolMissing(
    'qemu-user-static',
    'qemu-user-static binfmt-support',
    `this ${buildMachine} machine cannot run ${architecture} programs (arch-test: ${String(r.stdout || r.stderr).trim()}), and bootstrapping and ` +
      `verifying an ${architecture} image runs them: apt-get install qemu-user-static binfmt-support (setup.sh does), or build on an ${architecture} machine`,
  );
}
