// The runtime half of verify: the image is started exactly as a host starts it for a connection
// (systemd-nspawn --console=pipe --read-only, container-init, `sshd -i` on stdin/stdout), with
// throw-away host and client keys, and a real ssh client talks to it through ProxyCommand. The
// session runs `bash -l` with a script on stdin and no TTY, laid out as GitLab Runner lays out its
// stage scripts, because that is what breaks on a bad login profile.
// Reads: user.name.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { ToolRunner } from '../util/exec.ts';
import { withMachine } from '../util/nspawn-run.ts';
import { CONTAINER_INIT, homeOf, KEY_DIR } from '../image-contract.ts';

export interface SessionKeys {
  hostKeyDir: string;
  clientKey: string;
  knownHosts: string;
}

/** Throw-away keys in workDir, the way a host's postinst makes them (ECDSA, RSA, Ed25519). */
export async function makeKeys(dir: string, tools: ToolRunner): Promise<SessionKeys> {
  const hostKeyDir = path.join(dir, 'host');
  fs.mkdirSync(hostKeyDir, { recursive: true, mode: 0o755 });
  for (const type of ['ecdsa', 'rsa', 'ed25519']) {
    await tools.run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'verify', '-f', path.join(hostKeyDir, `ssh_host_${type}_key`)]);
  }
  const clientKey = path.join(dir, 'client_ed25519');
  await tools.run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'verify-client', '-f', clientKey]);
  fs.copyFileSync(`${clientKey}.pub`, path.join(hostKeyDir, 'authorized_keys'));
  const knownHosts = path.join(dir, 'known_hosts');
  const lines = ['ecdsa', 'rsa', 'ed25519'].map((t) => {
    const [type, key] = fs.readFileSync(path.join(hostKeyDir, `ssh_host_${t}_key.pub`), 'utf8').split(' ');
    return `eb-verify ${type} ${key}`;
  });
  fs.writeFileSync(knownHosts, `${lines.join('\n')}\n`);
  return { hostKeyDir, clientKey, knownHosts };
}

/** The nspawn command line a connection gets, minus the host-only parts (private users, limits). */
function nspawnArgs(rootfs: string, machine: string, user: string, keys: SessionKeys, command: string[]): string[] {
  return [
    '--quiet', '--console=pipe', '--read-only', '--register=no', '--keep-unit',
    '-D', rootfs, '-M', machine,
    `--tmpfs=${homeOf(user)}:mode=0700,size=64M`,
    `--bind-ro=${keys.hostKeyDir}:${KEY_DIR}`,
    CONTAINER_INIT, ...command,
  ];
}

/** `sshd -t` inside the container, with the keys bound in as a host would. */
export async function sshdConfigTest(rootfs: string, user: string, keys: SessionKeys, tools: ToolRunner): Promise<void> {
  await withMachine('eb-verify', (machine) => tools.run('systemd-nspawn', nspawnArgs(rootfs, machine, user, keys, ['--exec', '/usr/sbin/sshd', '-t'])));
}

export const MARKER = 'eb-verify';

/** A stage script in GitLab Runner's layout: errexit and pipefail, the body eval'd with stdin from a pipe, exit 0. */
export function runnerScript(body: string[]): string {
  const quoted = `$'${body.join('\n').replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}\\n'`;
  return ['set -o pipefail', 'set -o errexit', 'set +o noclobber', `: | eval ${quoted}`, 'exit 0', ''].join('\n');
}

export const VERIFY_BODY = [
  `echo "${MARKER} user=$(id -un) uid=$(id -u) home=$HOME"`,
  'cd "$HOME"',
  'test -f .bashrc',
  'touch "$HOME/.eb-verify-write"',
  `if touch /${MARKER}-rootfs-write 2>/dev/null; then echo "the root filesystem is writable"; exit 3; fi`,
  'git --version >/dev/null',
  `echo "${MARKER} done"`,
];

export interface SessionResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** One ssh connection through nspawn, `bash -l` fed `script` on stdin, no TTY. */
export async function runnerSession(rootfs: string, user: string, keys: SessionKeys, script: string, logFile: string): Promise<SessionResult> {
  return withMachine('eb-verify', async (machine) => {
    const proxy = ['systemd-nspawn', ...nspawnArgs(rootfs, machine, user, keys, [])].map(shellQuote).join(' ');
    const result = await execa('ssh', [
      '-F', '/dev/null', '-T',
      '-o', `ProxyCommand=${proxy} 2>>${shellQuote(logFile)}`,
      '-o', `UserKnownHostsFile=${keys.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'HostKeyAlias=eb-verify',
      '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', keys.clientKey, '-o', 'LogLevel=ERROR',
      '-o', 'ConnectTimeout=60',
      `${user}@eb-verify`, 'bash -l',
    ], { input: script, reject: false, timeout: 120_000 });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  });
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
