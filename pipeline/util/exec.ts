// Running the build machine's tools (mmdebstrap, tar, systemd-nspawn…) so that their output is never lost:
// every line goes to the stage's log file and to a bounded tail shown on failure, and, in verbose
// mode, to the UI. Cancelling the build's signal kills the tool's whole process group: mmdebstrap
// and apt leave children (dpkg, apt methods) that outlive a signal to the parent alone.
import fs from 'node:fs';
import { execa, type Options } from 'execa';

export class ToolFailed extends Error {
  override name = 'ToolFailed';
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly tail: string[];
  /** What to do about it, when the caller knows better than the generic hints. */
  readonly hint?: string;
  constructor(command: string, exitCode: number | undefined, tail: string[], message?: string, hint?: string) {
    super(message ?? `${command} failed${exitCode === undefined ? '' : ` with exit code ${exitCode}`}`);
    this.command = command;
    this.exitCode = exitCode;
    this.tail = tail;
    this.hint = hint;
  }
}

export interface ToolOptions {
  env?: Record<string, string>;
  cwd?: string;
  input?: string | Buffer;
  /** Keep stdout separately and return it (for tools whose output is data, not progress). */
  captureStdout?: boolean;
  /** Exit codes that are not failures. */
  okCodes?: number[];
  timeoutMs?: number;
  /** Also called with every output line (a stage's progress line shows a long tool's latest). */
  onLine?: (line: string) => void;
}

export interface ToolResult {
  exitCode: number;
  stdout: string;
}

export class ToolRunner {
  private tail: string[] = [];
  private readonly logFile: string;
  private readonly onLine: (line: string) => void;
  private readonly signal: AbortSignal;
  constructor(logFile: string, onLine: (line: string) => void, signal: AbortSignal) {
    this.logFile = logFile;
    this.onLine = onLine;
    this.signal = signal;
  }

  lines(): string[] {
    return [...this.tail];
  }

  log(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 40) this.tail.shift();
    fs.appendFileSync(this.logFile, `${line}\n`);
    this.onLine(line);
  }

  private output(line: string, opts: ToolOptions): void {
    this.log(line);
    opts.onLine?.(line);
  }

  async run(cmd: string, args: string[], opts: ToolOptions = {}): Promise<ToolResult> {
    const shown = [cmd, ...args].join(' ');
    this.log(`$ ${shown}`);
    const execOpts: Options = {
      env: { ...opts.env },
      extendEnv: true,
      cwd: opts.cwd,
      // Its own process group, so that cancelling can signal every descendant at once.
      detached: true,
      reject: false,
      stripFinalNewline: true,
      timeout: opts.timeoutMs,
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      stdout: 'pipe',
      stderr: 'pipe',
      lines: false,
      buffer: { stdout: Boolean(opts.captureStdout), stderr: false },
    };
    if (this.signal.aborted) throw new ToolFailed(shown, undefined, this.lines(), `${cmd} was cancelled`);
    const child = execa(cmd, args, execOpts);
    const cancel = () => killGroup(child.pid);
    this.signal.addEventListener('abort', cancel, { once: true });
    const pump = (stream: NodeJS.ReadableStream | null) => {
      if (!stream) return;
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        const parts = text.split(/\r?\n|\r/);
        partial = parts.pop() ?? '';
        for (const l of parts) if (l.trim()) this.output(l, opts);
      });
      stream.on('end', () => {
        if (partial.trim()) this.output(partial, opts);
      });
    };
    if (!opts.captureStdout) pump(child.stdout);
    pump(child.stderr);
    const result = await child.finally(() => this.signal.removeEventListener('abort', cancel));
    if (this.signal.aborted) throw new ToolFailed(shown, undefined, this.lines(), `${cmd} was cancelled`);
    if (result.failed && !(opts.okCodes ?? []).includes(result.exitCode ?? -1)) {
      const why =
        result.exitCode === undefined
          ? result.signal
            ? `killed by ${result.signal}`
            : (result.originalMessage ?? 'failed to start')
          : `exit code ${result.exitCode}`;
      if ((result as { code?: string }).code === 'ENOENT') throw new ToolFailed(shown, undefined, this.lines(), `${cmd}: not found`);
      throw new ToolFailed(shown, result.exitCode, this.lines(), `${cmd} failed (${why})`);
    }
    return { exitCode: result.exitCode ?? 0, stdout: typeof result.stdout === 'string' ? result.stdout : '' };
  }
}

/** Runs a tool and returns its stdout: the narrow view of a ToolRunner the compile helpers need. */
export type RunTool = (cmd: string, args: string[], opts: { env: Record<string, string>; cwd: string }) => Promise<string>;

export function stdoutOf(tools: ToolRunner): RunTool {
  return async (cmd, args, opts) => (await tools.run(cmd, args, { ...opts, captureStdout: true })).stdout;
}

/** SIGTERM to the whole group, then SIGKILL to whatever is left after a grace period. */
function killGroup(pid: number | undefined): void {
  if (!pid) return;
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is already gone
    }
  };
  send('SIGTERM');
  setTimeout(() => send('SIGKILL'), 3000).unref();
}
