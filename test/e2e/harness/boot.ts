// Booting a host tree with systemd as PID 1 (`systemd-nspawn -b`), a real host on this machine:
// outside a booted systemd nspawn needs --register=no --keep-unit; the host shares
// this machine's network, so its sockets listen on this machine's loopback; commands run inside
// through nsenter into the namespaces of the host's systemd (the child of the nspawn process).
//
// Every host this process boots is tracked by pid. poweroff() is the normal end; should a test
// crash, an 'exit' hook kills what is left, and nspawn runs with a parent-death signal of SIGTERM
// (nspawn turns that into an orderly halt of the host) in case this process is killed outright.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { mountsBelow } from '../../../pipeline/util/mounts.ts';
import type { HostTree } from './host-tree.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string | Buffer;
  /** Added to the clean environment the command gets. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface PoweroffReport {
  seconds: number;
  /** True when the host did not stop by itself and was killed. */
  forced: boolean;
  /** Time spent removing the tree afterwards (0 with keepTree). */
  removeSeconds: number;
}

export interface BootedHost {
  name: string;
  tree: HostTree;
  /** The host's / on this machine: files written below it are seen inside at once. */
  root: string;
  nspawnPid: number;
  /** The host's systemd (PID 1 inside), as seen from this machine. */
  initPid: number;
  bootSeconds: number;
  /** `systemctl is-system-running` once boot finished: running or degraded. */
  bootState: string;
  /**
   * A shell command inside the host, as root, with a clean environment and the host's capability
   * bounding set (nspawn's, without CAP_NET_ADMIN among others), so it can do no more than the
   * host's own root could. It stays in this machine's cgroup: start long-lived things with
   * systemd-run. Never throws on exit codes.
   */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** exec() that throws, with the command's output, unless it exits 0. Returns stdout. */
  execOk(command: string, opts?: ExecOptions): Promise<string>;
  /** This machine's path of a path inside the host. */
  path(inside: string): string;
  writeFile(inside: string, content: string | Uint8Array, mode?: number): void;
  /** The last lines of the host's journal (for failure messages). */
  journal(lines?: number): Promise<string>;
  /** Powers the host off, waits for nspawn to exit (killing it after a timeout) and removes the tree. */
  poweroff(opts?: { timeoutMs?: number; keepTree?: boolean }): Promise<PoweroffReport>;
}

export interface BootOptions {
  /** How long boot may take before it counts as failed. */
  timeoutMs?: number;
  /** More systemd-nspawn arguments (binds...). */
  nspawnArgs?: string[];
}

/** glibc's SIGRTMIN is 34; systemd powers off on SIGRTMIN+4. Node has no name for it. */
const SIGRTMIN_PLUS_4 = 38;

const CLEAN_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'TERM=dumb'];

interface Live {
  nspawnPid: number;
  initPid?: number;
  child: ChildProcess;
}
const live = new Set<Live>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test ends without poweroff(): killing PID 1 of a PID namespace ends every
  // process in it. nspawn is left to notice and exit by itself, so that it still removes what it
  // made on this machine (/run/systemd/nspawn/propagate/<name>). Synchronous, as 'exit' handlers must be.
  process.on('exit', () => {
    for (const h of live) {
      try {
        process.kill(h.initPid ?? h.nspawnPid, h.initPid ? 'SIGKILL' : 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  });
}

async function childrenOf(pid: number): Promise<number[]> {
  const res = await execa('pgrep', ['-P', String(pid)], { reject: false });
  return res.stdout.split('\n').filter(Boolean).map(Number);
}

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** A process's capability bounding set in setpriv's syntax: -all,+cap_0,+cap_1... */
function boundingSetOf(pid: number): string {
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!hex) throw new Error(`no CapBnd in /proc/${pid}/status`);
  const mask = BigInt(`0x${hex}`);
  const caps = [];
  for (let n = 0n; n < 64n; n++) if (mask & (1n << n)) caps.push(`+cap_${n}`);
  return ['-all', ...caps].join(',');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const since = (t: number) => Math.round((performance.now() - t) / 100) / 10;
const tail = (file: string, n: number) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n') : '');

/**
 * The cgroups a host of this name gets on this machine: one in each hierarchy that nspawn tracks
 * it in, where this machine has them side by side (cgroup v1 hybrid without systemd: the
 * name=systemd hierarchy and the unified one). Elsewhere none: the host stays where it started.
 */
function hostCgroups(name: string): string[] {
  return ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']
    .filter((root) => fs.existsSync(path.join(root, 'cgroup.procs')))
    .map((root) => path.join(root, `eb-host-${name}`));
}

/** Removes a host's cgroups once its processes are gone (rmdir: only empty ones go, children first). */
function removeCgroups(dirs: string[]): void {
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    const below = fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => path.join(e.parentPath, e.name))
      .sort((a, b) => b.length - a.length);
    for (const d of [...below, dir])
      try {
        fs.rmdirSync(d);
      } catch {
        /* busy or gone: left for the kernel */
      }
  }
}

/**
 * The cgroups of hosts whose test process died before it could remove them (the harness's own
 * crash tests do that): empty ones older than 10 minutes go. A cgroup with a process or a child
 * cgroup in use is not empty, so rmdir leaves every running host's alone, and the age keeps it off
 * one another run has just made and not yet moved into.
 */
function pruneLeftCgroups(): void {
  for (const root of ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']) {
    if (!fs.existsSync(path.join(root, 'cgroup.procs'))) continue;
    for (const entry of fs.readdirSync(root)) {
      const dir = path.join(root, entry);
      if (entry.startsWith('eb-host-') && Date.now() - fs.statSync(dir).mtimeMs > 10 * 60_000) removeCgroups([dir]);
    }
  }
}

/** Machine names become hostnames and unit names: keep to what both accept. */
export function machineName(label: string): string {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `${clean || 'host'}-${Math.random().toString(16).slice(2, 8)}`;
}

export async function bootHost(tree: HostTree, name: string, opts: BootOptions = {}): Promise<BootedHost> {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) throw new Error(`machine name ${JSON.stringify(name)}: use a-z, 0-9 and -`);
  installExitHook();
  fs.writeFileSync(path.join(tree.root, 'etc/hostname'), `${name}\n`);
  const bootLog = path.join(tree.workDir, 'boot.log');
  const logFd = fs.openSync(bootLog, 'a');
  const t0 = performance.now();
  // No system call filter on the host itself (SYSTEMD_SECCOMP=0), as on a real machine, where PID 1
  // runs under none: with nspawn's filter around the whole host, a container's job would read
  // "Seccomp: 2" whatever the product did, and the kernel would refuse to show filters to the
  // host's services (PTRACE_SECCOMP_GET_FILTER needs a caller outside any filter).
  // Every host gets cgroups of its own. nspawn --keep-unit, with no systemd on this machine, puts
  // the host in a "payload" cgroup below its own, and at the end removes the empty cgroups there:
  // hosts sharing one cgroup (any booted on this machine at the same time, by this run or another
  // one) lost each other's unit cgroups at every poweroff, and their sockets then accepted no more
  // connections ("Failed to join unit cgroup"). The shell moves itself into them, then execs.
  const cgroups = hostCgroups(name);
  pruneLeftCgroups();
  for (const dir of cgroups) fs.mkdirSync(dir, { recursive: true });
  const child = spawn(
    'sh',
    [
      '-c',
      'for d in "$@"; do [ "$d" = -- ] && break; echo $$ > "$d/cgroup.procs" || exit 1; shift; done; shift; exec "$@"',
      'boot',
      ...cgroups,
      '--',
      'setpriv',
      '--pdeathsig',
      'TERM',
      '--',
      'systemd-nspawn',
      '--register=no',
      '--keep-unit',
      '--boot',
      '--console=passive',
      '--directory',
      tree.root,
      '--machine',
      name,
      ...(opts.nspawnArgs ?? []),
    ],
    { stdio: ['ignore', logFd, logFd], env: { ...process.env, SYSTEMD_SECCOMP: '0' } },
  );
  fs.closeSync(logFd);
  if (!child.pid) throw new Error('could not start systemd-nspawn');
  const entry: Live = { nspawnPid: child.pid, child };
  live.add(entry);
  let exited: number | null | undefined;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = code ?? (signal ? -1 : null);
      live.delete(entry);
      removeCgroups(cgroups);
      resolve();
    }),
  );

  let boundingSet = '';
  const host: BootedHost = {
    name,
    tree,
    root: tree.root,
    nspawnPid: child.pid,
    initPid: 0,
    bootSeconds: 0,
    bootState: '',
    async exec(command, o = {}) {
      const env = [...CLEAN_ENV, ...Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`)];
      // With the host's capability bounding set, as any process of the host has, not this machine's.
      const res = await execa(
        'setpriv',
        ['--bounding-set', boundingSet, '--', 'nsenter', '--target', String(host.initPid), '--all', '--', 'env', '-i', ...env, '/bin/sh', '-c', command],
        {
          reject: false,
          timeout: o.timeoutMs ?? 10 * 60_000,
          stripFinalNewline: false,
          ...(o.input !== undefined ? { input: o.input } : { stdin: 'ignore' as const }),
        },
      );
      return { stdout: res.stdout, stderr: res.stderr, exitCode: res.exitCode ?? (res.timedOut ? 124 : -1) };
    },
    async execOk(command, o) {
      const r = await host.exec(command, o);
      if (r.exitCode !== 0) throw new Error(`[${name}] ${command}\nexit code ${r.exitCode}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
      return r.stdout;
    },
    path: (inside) => path.join(tree.root, inside),
    writeFile(inside, content, mode = 0o644) {
      const file = path.join(tree.root, inside);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content, { mode });
      fs.chmodSync(file, mode);
    },
    async journal(lines = 40) {
      if (!host.initPid || exited !== undefined) return `(host not running)\n${tail(bootLog, lines)}`;
      const r = await host.exec(`journalctl --no-pager -b -n ${lines} 2>&1`, { timeoutMs: 15_000 });
      return r.stdout;
    },
    async poweroff(o = {}) {
      const p0 = performance.now();
      let forced = false;
      if (exited === undefined) {
        if (host.initPid)
          try {
            process.kill(host.initPid, SIGRTMIN_PLUS_4);
          } catch {
            /* gone */
          }
        else child.kill('SIGTERM');
        const timedOut = await Promise.race([exitedPromise.then(() => false), sleep(o.timeoutMs ?? 60_000).then(() => true)]);
        if (timedOut) {
          forced = true;
          // Killing the host's PID 1 ends its whole PID namespace; then nspawn itself.
          if (host.initPid)
            try {
              process.kill(host.initPid, 'SIGKILL');
            } catch {
              /* gone */
            }
          if (await Promise.race([exitedPromise.then(() => false), sleep(10_000).then(() => true)])) child.kill('SIGKILL');
          await exitedPromise;
        }
      }
      const seconds = since(p0);
      const r0 = performance.now();
      if (!o.keepTree) {
        const mounts = mountsBelow(tree.root);
        if (mounts.length) throw new Error(`[${name}] after poweroff, still mounted below ${tree.root}: ${mounts.join(', ')}`);
        await tree.remove();
      }
      return { seconds, forced, removeSeconds: o.keepTree ? 0 : since(r0) };
    },
  };

  // The host's systemd is nspawn's child once nspawn has set the container up.
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  const fail = async (why: string): Promise<never> => {
    const journal = await host.journal(40).catch((e: unknown) => `(no journal: ${(e as Error).message})`);
    await host.poweroff({ timeoutMs: 15_000 }).catch(() => undefined);
    throw new Error(`[${name}] ${why}\n--- nspawn output\n${tail(bootLog, 20)}\n--- journal\n${journal}`);
  };
  while (!host.initPid) {
    if (exited !== undefined) return fail(`systemd-nspawn exited (${exited}) before the host booted`);
    if (Date.now() > deadline) return fail('systemd-nspawn started no init process');
    const kids = await childrenOf(child.pid);
    const init = kids.find((k) => commOf(k) === 'systemd');
    if (init) {
      host.initPid = init;
      entry.initPid = init;
      boundingSet = boundingSetOf(init);
    } else await sleep(100);
  }
  let state = '';
  for (;;) {
    if (exited !== undefined) return fail(`the host stopped while booting (nspawn exit ${exited}); last state "${state}"`);
    const r = await host.exec('systemctl is-system-running', { timeoutMs: 10_000 });
    state = r.stdout.trim() || r.stderr.trim();
    if (state === 'running' || state === 'degraded') break;
    if (Date.now() > deadline) {
      const failed = (await host.exec('systemctl --failed --no-legend --no-pager')).stdout;
      return fail(`boot did not finish within ${opts.timeoutMs ?? 90_000} ms: state "${state}"; failed units:\n${failed}`);
    }
    await sleep(250);
  }
  host.bootState = state;
  host.bootSeconds = since(t0);
  return host;
}
