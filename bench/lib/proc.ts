// Running the commands being measured: wall time from spawn to exit, CPU time (user and system,
// children included) and the largest single process's peak RSS from GNU time, and optionally a
// sampler that follows the whole process tree (the sum of every descendant's RSS at each tick, and
// each program's own high-water mark, VmHWM). CPU time next to wall time tells CPU-bound work
// (cpu ≈ wall × cores used) from waiting on the network or the disk (cpu ≪ wall).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface TimedRun {
  wallMs: number;
  userS: number;
  sysS: number;
  /** GNU time's "Maximum resident set size": the largest single process, in KiB. */
  maxRssKiB: number;
  exitCode: number;
  stdout: string;
  stderr: string;
  memory?: TreeMemory;
}

export interface TreeMemory {
  /** Highest sum of VmRSS over the whole process tree at one sampling tick, KiB. */
  peakTreeRssKiB: number;
  /** VmHWM per program (executable name; the largest seen for that name), KiB. */
  hwmByCommKiB: Record<string, number>;
  samples: number;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Called for every complete stdout line, as it arrives. */
  onLine?: (line: string) => void;
  /** Keep stdout in the result (default true; off for commands that print a lot). */
  keepStdout?: boolean;
  /** Follow the process tree's memory every `sampleMs` (default: off). */
  sampleMs?: number;
  /** Give up (SIGTERM to the whole group, then SIGKILL) after this long. */
  timeoutMs?: number;
  input?: string;
}

const TIME = '/usr/bin/time';

/**
 * Every command runs in a process group of its own (detached, so that a timeout stops the whole
 * group), so Ctrl-C on the bench does not reach it: without passing the signal on, a build under
 * measurement went on after the bench had exited.
 */
const running = new Set<number>();
let forwarding = false;
function forwardStopSignals(): void {
  if (forwarding) return;
  forwarding = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const pid of running) {
        try {
          process.kill(-pid, sig);
        } catch {
          /* gone */
        }
      }
      process.exit(128 + os.constants.signals[sig]);
    });
  }
}

/** Runs `cmd args` under GNU time and measures it. Never throws on a non-zero exit: see exitCode. */
export async function runTimed(cmd: string, args: string[], opts: RunOptions = {}): Promise<TimedRun> {
  if (!fs.existsSync(TIME)) throw new Error(`${TIME} is missing: apt-get install -y time`);
  const timeFile = path.join(os.tmpdir(), `eb-bench-time-${process.pid}-${Math.random().toString(16).slice(2)}`);
  const t0 = performance.now();
  const child = spawn(TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  forwardStopSignals();
  if (child.pid) running.add(child.pid);
  const sampler = opts.sampleMs && child.pid ? new TreeSampler(child.pid, opts.sampleMs) : undefined;
  let stdout = '';
  let stderr = '';
  let pending = '';
  const out = child.stdout as Readable;
  const err = child.stderr as Readable;
  out.setEncoding('utf8');
  out.on('data', (s: string) => {
    if (opts.keepStdout !== false) stdout += s;
    if (opts.onLine) {
      pending += s;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) opts.onLine(l);
    }
  });
  err.setEncoding('utf8');
  err.on('data', (s: string) => {
    stderr = (stderr + s).slice(-64 * 1024);
  });
  if (child.stdin) {
    child.stdin.on('error', () => {
      /* the command exited without reading its input: its exit code says why */
    });
    child.stdin.end(opts.input);
  }
  let timer: NodeJS.Timeout | undefined;
  if (opts.timeoutMs) {
    timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGTERM');
      } catch {
        /* gone */
      }
      setTimeout(() => {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 10_000).unref();
    }, opts.timeoutMs);
  }
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, sig) => resolve(code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : -1)));
  });
  const wallMs = performance.now() - t0;
  if (child.pid) running.delete(child.pid);
  if (timer) clearTimeout(timer);
  if (opts.onLine && pending) opts.onLine(pending);
  const memory = sampler?.stop();
  let userS = NaN;
  let sysS = NaN;
  let maxRssKiB = NaN;
  try {
    // GNU time writes "Command exited with non-zero status N" first in that case; the figures are last.
    const last = fs.readFileSync(timeFile, 'utf8').trim().split('\n').at(-1) ?? '';
    const [, u, s, m] = last.split(' ').map(Number);
    userS = u ?? NaN;
    sysS = s ?? NaN;
    maxRssKiB = m ?? NaN;
  } catch {
    // killed before time could write: the figures stay NaN
  } finally {
    fs.rmSync(timeFile, { force: true });
  }
  return { wallMs, userS, sysS, maxRssKiB, exitCode, stdout, stderr, memory };
}

/** runTimed that throws with the command's stderr unless it exits 0. */
export async function runTimedOk(cmd: string, args: string[], opts: RunOptions = {}): Promise<TimedRun> {
  const r = await runTimed(cmd, args, opts);
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit code ${r.exitCode}\n${r.stderr.trim().split('\n').slice(-25).join('\n')}`);
  return r;
}

/** A shell pipeline, timed as one command (GNU time counts every process the shell waits for). */
export function shTimed(script: string, opts: RunOptions = {}): Promise<TimedRun> {
  return runTimedOk('/bin/sh', ['-c', `set -e\n${script}`], opts);
}

/** Plain run without timing, for setup and cleanup. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await runTimed(cmd, args, opts);
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit code ${r.exitCode}\n${r.stderr.trim().split('\n').slice(-25).join('\n')}`);
  return r.stdout;
}

/**
 * Follows a process tree through /proc (this kernel has no /proc/PID/task/TID/children, so the
 * parent of every process is read from /proc/PID/stat at each tick).
 */
export class TreeSampler {
  private readonly root: number;
  private readonly timer: NodeJS.Timeout;
  private peak = 0;
  private ticks = 0;
  private readonly hwm: Record<string, number> = {};

  constructor(root: number, everyMs: number) {
    this.root = root;
    this.timer = setInterval(() => this.tick(), everyMs);
    this.tick();
  }

  private tick(): void {
    const parents = new Map<number, number[]>();
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const stat = readOr(`/proc/${name}/stat`);
      // The command name is in parentheses and may contain spaces: fields start after the last ")".
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      if (!Number.isFinite(ppid)) continue;
      const kids = parents.get(ppid) ?? [];
      kids.push(Number(name));
      parents.set(ppid, kids);
    }
    let sum = 0;
    const todo = [this.root];
    while (todo.length) {
      const pid = todo.pop() as number;
      const status = readOr(`/proc/${pid}/status`);
      if (status) {
        const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        const hwm = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        const comm = programOf(pid, status);
        sum += rss;
        if (hwm > (this.hwm[comm] ?? 0)) this.hwm[comm] = hwm;
      }
      todo.push(...(parents.get(pid) ?? []));
    }
    this.ticks++;
    if (sum > this.peak) this.peak = sum;
  }

  stop(): TreeMemory {
    clearInterval(this.timer);
    return { peakTreeRssKiB: this.peak, hwmByCommKiB: { ...this.hwm }, samples: this.ticks };
  }
}

/**
 * The program a process runs: its executable's name. Not the status Name: Node 24 names its main
 * thread, and so the process, "MainThread".
 */
function programOf(pid: number, status: string): string {
  try {
    return path.basename(fs.readlinkSync(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, '');
  } catch {
    return /^Name:\s+(.*)$/m.exec(status)?.[1]?.trim() ?? '?';
  }
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** rm -rf of a tree a benchmark made, outside the timed region. */
export function removeTree(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
