// Running a command inside a root filesystem under construction with systemd-nspawn, as root and
// outside any booted systemd (--register=no --keep-unit): the recipe's build-time steps and
// debootstrap's apt pass (the verify session starts the image through the hosts' spawn helper,
// pipeline/verify/session.ts, and removes its propagation directories here). Network is the
// build machine's only when asked for; otherwise the command has loopback alone.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ToolOptions, ToolResult, ToolRunner } from './exec.ts';

/**
 * nspawn outside a booted systemd (--register=no) leaves an empty
 * /run/systemd/nspawn/propagate/<machine> directory behind, and every build would add one.
 * Removed by its own name, with rmdir, so only if it is empty.
 */
export function removePropagateDir(machine: string): void {
  try {
    fs.rmdirSync(path.join('/run/systemd/nspawn/propagate', machine));
  } catch {
    // Not made (a booted systemd cleans up itself) or not empty: leave it.
  }
}

/** A machine name for one nspawn run, and its propagation directory removed afterwards. */
export async function withMachine<T>(prefix: string, run: (machine: string) => Promise<T>): Promise<T> {
  const machine = `${prefix}-${randomBytes(4).toString('hex')}`;
  try {
    return await run(machine);
  } finally {
    removePropagateDir(machine);
  }
}

export interface TreeCommandOptions {
  /** The build machine's network (and its resolv.conf, bound in); otherwise loopback only. */
  network: boolean;
  env?: Record<string, string>;
  /** Options for the ToolRunner (okCodes, timeout). */
  tool?: Omit<ToolOptions, 'env'>;
}

/** Runs `command` as root (pid 2, under nspawn's stub init) in a writable tree. */
export async function runInTree(tools: ToolRunner, rootfs: string, command: string[], opts: TreeCommandOptions): Promise<ToolResult> {
  return withMachine('eb-build', (machine) =>
    tools.run(
      'systemd-nspawn',
      [
        '--quiet',
        '--register=no',
        '--keep-unit',
        '--console=pipe',
        '--as-pid2',
        '-D',
        rootfs,
        '-M',
        machine,
        '--timezone=off',
        '--link-journal=no',
        ...(opts.network ? ['--resolv-conf=bind-host'] : ['--private-network', '--resolv-conf=off']),
        ...Object.entries(opts.env ?? {}).map(([k, v]) => `--setenv=${k}=${v}`),
        '--',
        ...command,
      ],
      opts.tool,
    ),
  );
}
