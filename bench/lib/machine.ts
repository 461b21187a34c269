// What machine a result came from, and how busy it was: hostname, core count, memory, CPU model,
// kernel, and the 1-minute load average. The machine is shared with test runs, so every benchmark
// records the load at its start and end (and every sample records it too): contention must be
// visible next to the figures it distorts.
import fs from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  hostname: string;
  nproc: number;
  memoryGiB: number;
  cpuModel: string;
  kernel: string;
  /** hostname-<n>cpu-<m>g: the machine part of the results file name. */
  id: string;
}

export function machineInfo(): MachineInfo {
  const hostname = os.hostname();
  const nproc = os.availableParallelism();
  const memoryGiB = Math.round(os.totalmem() / 2 ** 30);
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readOr('/proc/cpuinfo'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const kernel = os.release();
  const slug = hostname.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  return { hostname, nproc, memoryGiB, cpuModel, kernel, id: `${slug}-${nproc}cpu-${memoryGiB}g` };
}

/** The 1-minute load average, two decimals. */
export function load1(): number {
  return Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
}

/** Local date as YYYY-MM-DD (the results file name). */
export function today(d = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
