// Real OpenSSH from this machine to a test host's socket on 127.0.0.1:<port> (or the address of a
// host with a network of its own), as GitLab Runner
// would connect: one-shot commands, connections held open (to count containers, or to keep an
// image in use), and one connection carrying many sessions (ControlMaster), which is how the
// runner's SSH executor runs a job's stages. Every call has a timeout; every ssh process started
// here is ended by its pid.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { USER } from './artifacts.ts';

export interface SshTarget {
  /** The host's address; 127.0.0.1 (hosts share this machine's loopback) unless given. */
  host?: string;
  port: number;
  /** Private key file (mode 0600). */
  identity: string;
  user?: string;
  /** known_hosts file to check the host key against strictly; without it any key is accepted. */
  knownHosts?: string;
}

export interface SshResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  seconds: number;
}

export interface SshOptions {
  input?: string;
  timeoutMs?: number;
  /** More ssh options, before the destination. */
  extra?: string[];
  env?: Record<string, string>;
}

/** Options that make ssh ignore this machine's config and agent, and never prompt. */
export function sshArgs(t: SshTarget, extra: string[] = []): string[] {
  const hostKeys = t.knownHosts
    ? ['-o', `UserKnownHostsFile=${t.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'GlobalKnownHostsFile=/dev/null']
    : ['-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'GlobalKnownHostsFile=/dev/null'];
  return [
    '-F',
    '/dev/null',
    '-p',
    String(t.port),
    '-i',
    t.identity,
    '-o',
    'IdentitiesOnly=yes',
    // No agent, unless the caller forwards one (-A): ssh asks for no agent forwarding without it.
    ...(extra.includes('-A') ? [] : ['-o', 'IdentityAgent=none']),
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=30',
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=6',
    // Quiet, unless the caller asks for ssh's own account of what it requested (-v).
    ...(extra.includes('-v') ? [] : ['-o', 'LogLevel=ERROR']),
    ...hostKeys,
    ...extra,
    `${t.user ?? USER}@${t.host ?? '127.0.0.1'}`,
  ];
}

const since = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;

/** One connection, one command (no pty, as the runner), then the connection closes. */
export async function ssh(t: SshTarget, command: string, o: SshOptions = {}): Promise<SshResult> {
  const t0 = performance.now();
  // No command at all for -W and -N: ssh refuses a remote command next to them.
  const r = await execa('ssh', ['-T', ...sshArgs(t, o.extra), ...(command ? [command] : [])], {
    reject: false,
    timeout: o.timeoutMs ?? 60_000,
    stripFinalNewline: false,
    env: o.env,
    extendEnv: true,
    ...(o.input !== undefined ? { input: o.input } : { stdin: 'ignore' as const }),
  });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? (r.timedOut ? 124 : -1), seconds: since(t0) };
}

/** ssh() that throws unless the command exits 0; returns stdout. */
export async function sshOk(t: SshTarget, command: string, o: SshOptions = {}): Promise<string> {
  const r = await ssh(t, command, o);
  if (r.exitCode !== 0) throw new Error(`ssh -p ${t.port} ${JSON.stringify(command)}: exit ${r.exitCode}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
  return r.stdout;
}

/** Polls until check() returns a value other than undefined, or throws after timeoutMs. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A connection held open by a job that reads its stdin: it prints what `command` prints, then
 * waits. `send()` gives it a line, `end()` closes stdin so the job ends by itself, `kill()`
 * kills the ssh client (by pid).
 */
export class HeldJob {
  readonly proc: ResultPromise<{ stdin: 'pipe'; reject: false; buffer: false }>;
  stdout = '';
  stderr = '';
  exitCode: number | undefined;
  readonly done: Promise<number>;

  constructor(t: SshTarget, command: string, extra: string[] = []) {
    this.proc = execa('ssh', ['-T', ...sshArgs(t, extra), command], { stdin: 'pipe', reject: false, buffer: false });
    this.proc.stdout?.on('data', (c: Buffer) => {
      this.stdout += c.toString();
    });
    this.proc.stderr?.on('data', (c: Buffer) => {
      this.stderr += c.toString();
    });
    this.done = this.proc.then((r) => {
      this.exitCode = r.exitCode ?? -1;
      return this.exitCode;
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Waits until stdout matches `re`; returns the match. Fails early if the connection ends. */
  async waitFor(re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const seen = () => `stdout ${JSON.stringify(this.stdout.slice(-300))}, stderr ${JSON.stringify(this.stderr.slice(-300))}`;
    try {
      return await waitFor(
        `${re} in the job's output`,
        async () => {
          const m = this.stdout.match(re);
          if (m) return m;
          if (this.exitCode !== undefined) throw new Error(`the connection ended with exit code ${this.exitCode}`);
          return undefined;
        },
        timeoutMs,
        100,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; ${seen()}`);
    }
  }

  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  /** Closes stdin and waits for the exit code. */
  async end(timeoutMs = 60_000): Promise<number> {
    this.proc.stdin?.end();
    return this.wait(timeoutMs);
  }

  async wait(timeoutMs = 60_000): Promise<number> {
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    const code = await Promise.race([this.done, timer]);
    if (code === 'timeout') {
      this.kill();
      throw new Error(`the held connection did not end within ${timeoutMs} ms; output: ${this.stdout.slice(-500)}`);
    }
    return code;
  }

  kill(): void {
    if (this.exitCode === undefined && this.proc.pid)
      try {
        process.kill(this.proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
  }
}

/**
 * One SSH connection carrying many sessions, through an OpenSSH ControlMaster socket: the
 * tutorial's multiplexing, and the shape of GitLab Runner's SSH executor (one connection, one
 * exec session per stage).
 */
export class Multiplexed {
  readonly target: SshTarget;
  readonly socket: string;
  readonly master: ResultPromise<{ reject: false; stdin: 'ignore' }>;
  private readonly dir: string;

  private constructor(t: SshTarget, dir: string) {
    this.target = t;
    this.dir = dir;
    this.socket = path.join(dir, 'control');
    this.master = execa('ssh', ['-N', '-M', '-S', this.socket, ...sshArgs(t)], { reject: false, stdin: 'ignore' });
  }

  static async open(t: SshTarget, timeoutMs = 60_000): Promise<Multiplexed> {
    const m = new Multiplexed(t, fs.mkdtempSync(path.join(os.tmpdir(), 'eb-mux-')));
    let ended = false;
    void m.master.then(() => {
      ended = true;
    });
    try {
      // A master that exited (a refused connection) ends the wait at once.
      const up = await waitFor(
        'the ControlMaster connection',
        async () => {
          if (ended) return false;
          const r = await execa('ssh', ['-S', m.socket, '-O', 'check', ...sshArgs(t)], { reject: false, stdin: 'ignore', timeout: 10_000 });
          return r.exitCode === 0 ? true : undefined;
        },
        timeoutMs,
        200,
      );
      if (!up) throw new Error(`ssh master exited: ${String((await m.master).stderr).trim()}`);
    } catch (err) {
      await m.close();
      throw err;
    }
    return m;
  }

  /** A new session on the connection: `command` with `input` on stdin, no pty. */
  async run(command: string, o: SshOptions = {}): Promise<SshResult> {
    const t0 = performance.now();
    const r = await execa('ssh', ['-T', '-S', this.socket, '-o', 'ControlMaster=no', ...sshArgs(this.target, o.extra), command], {
      reject: false,
      timeout: o.timeoutMs ?? 60_000,
      stripFinalNewline: false,
      ...(o.input !== undefined ? { input: o.input } : { stdin: 'ignore' as const }),
    });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? (r.timedOut ? 124 : -1), seconds: since(t0) };
  }

  /** Ends the connection (the container goes with it) and removes the control socket's directory. */
  async close(): Promise<void> {
    await execa('ssh', ['-S', this.socket, '-O', 'exit', ...sshArgs(this.target)], { reject: false, stdin: 'ignore', timeout: 10_000 });
    const ended = await Promise.race([this.master.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
    if (!ended && this.master.pid) {
      try {
        process.kill(this.master.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await this.master;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
