// The runtime half of verify: the image is started by the hosts' own spawn helper (host/bin/spawn,
// rendered from the recipe as pack renders it), in a throw-away host tree in the stage's workDir
// (spawn's EB_ROOT): the image as its current image, throw-away host and client keys in its key
// directory, and a config that turns off what a build machine lacks. So the container is the one
// a connection gets on a host, with every nspawn option spawn gives (private users, the idmapped
// key bind, the read-only root, the tmpfs mounts and their limits, nspawn's system call filter,
// container-init and `sshd -i` on the connection), and an option added there is checked here. A
// real ssh client talks to it through ProxyCommand. The session runs `bash -l` with a script on
// stdin and no TTY, laid out as GitLab Runner lays out its stage scripts, because that is what
// breaks on a bad login profile.
// Reads: name, user, limits, binds (all through the rendered spawn helper).
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { placeholders, renderHostTemplate, type HostRecipe } from '../host-package/render.ts';
import type { ToolRunner } from '../util/exec.ts';
import { removePropagateDir } from '../util/nspawn-run.ts';

/** A throw-away host: spawn runs against `root` (EB_ROOT); the client's key and known_hosts sit beside it. */
export interface VerifyHost {
  root: string;
  spawn: string;
  clientKey: string;
  knownHosts: string;
}

// What a build machine lacks: machined and the system bus (a build runs outside a booted systemd,
// or should not register throw-away containers where it runs inside one), and the sources of the
// recipe's binds, which are the hosts' files, not the build machine's.
const BUILD_MACHINE_CONF = 'REGISTER=no\nBINDS=\n';

/** The rendered spawn helper; its digest is part of the verify stage's key. */
export function renderedSpawn(recipe: HostRecipe): string {
  return renderHostTemplate('bin/spawn', placeholders(recipe));
}

/**
 * Lays out the host in `dir` as a host's postinst would: /var/lib/NAME/current pointing at
 * `rootfs`, host keys (ECDSA, RSA, Ed25519) and the client's public key in /etc/NAME/ssh, the
 * config, and the spawn helper at /usr/lib/NAME/spawn.
 */
export async function layOutHost(dir: string, recipe: HostRecipe, rootfs: string, tools: ToolRunner): Promise<VerifyHost> {
  const { name } = recipe;
  const at = (...p: string[]) => path.join(dir, ...p);
  const keyDir = at('etc', name, 'ssh');
  fs.mkdirSync(keyDir, { recursive: true, mode: 0o755 });
  for (const type of ['ecdsa', 'rsa', 'ed25519']) {
    await tools.run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'verify', '-f', path.join(keyDir, `ssh_host_${type}_key`)]);
  }
  const clientKey = at('client_ed25519');
  await tools.run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'verify-client', '-f', clientKey]);
  fs.copyFileSync(`${clientKey}.pub`, path.join(keyDir, 'authorized_keys'));
  const knownHosts = at('known_hosts');
  const lines = ['ecdsa', 'rsa', 'ed25519'].map((t) => {
    const [type, key] = fs.readFileSync(path.join(keyDir, `ssh_host_${t}_key.pub`), 'utf8').split(' ');
    return `eb-verify ${type} ${key}`;
  });
  fs.writeFileSync(knownHosts, `${lines.join('\n')}\n`);
  fs.writeFileSync(at('etc', name, `${name}.conf`), BUILD_MACHINE_CONF);
  fs.mkdirSync(at('var/lib', name), { recursive: true });
  fs.symlinkSync(path.resolve(rootfs), at('var/lib', name, 'current'));
  const spawn = at('usr/lib', name, 'spawn');
  fs.mkdirSync(path.dirname(spawn), { recursive: true });
  fs.writeFileSync(spawn, renderedSpawn(recipe), { mode: 0o755 });
  return { root: dir, spawn, clientKey, knownHosts };
}

/** The machine names spawn reported in `text` (its line per container: "..., machine NAME-x-PID"). */
function machinesIn(text: string): string[] {
  return [...text.matchAll(/ spawn: connection .*, machine (\S+)$/gm)].map((m) => m[1] as string);
}

/** `sshd -t` inside the container, started by `spawn --exec` as `NAMEctl shell` starts one. */
export async function sshdConfigTest(host: VerifyHost, tools: ToolRunner): Promise<void> {
  let said = '';
  try {
    await tools.run(host.spawn, ['--exec', '/usr/sbin/sshd', '-t'], {
      env: { EB_ROOT: host.root },
      onLine: (l) => {
        said += `${l}\n`;
      },
    });
  } finally {
    machinesIn(said).forEach(removePropagateDir);
  }
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

/** One ssh connection through the spawn helper (stderr appended to logFile), `bash -l` fed `script` on stdin, no TTY. */
export async function runnerSession(host: VerifyHost, user: string, script: string, logFile: string): Promise<SessionResult> {
  try {
    const result = await execa(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-T',
        '-o',
        `ProxyCommand=${shellQuote(host.spawn)} 2>>${shellQuote(logFile)}`,
        '-o',
        `UserKnownHostsFile=${host.knownHosts}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'HostKeyAlias=eb-verify',
        '-o',
        'BatchMode=yes',
        '-o',
        'IdentitiesOnly=yes',
        '-i',
        host.clientKey,
        '-o',
        'LogLevel=ERROR',
        '-o',
        'ConnectTimeout=60',
        `${user}@eb-verify`,
        'bash -l',
      ],
      { input: script, reject: false, timeout: 120_000, env: { EB_ROOT: host.root } },
    );
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  } finally {
    if (fs.existsSync(logFile)) machinesIn(fs.readFileSync(logFile, 'utf8')).forEach(removePropagateDir);
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
