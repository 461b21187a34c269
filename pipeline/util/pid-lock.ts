// A lock file holding its owner's pid, created exclusively. A second process waits; a lock whose
// owner died is stale and taken over. Used for cache entries, apt repositories and test fixtures.
import fs from 'node:fs';

export interface PidLockOptions {
  /** Called once, when the lock is held by another live process. */
  onWait?: (ownerPid: number) => void;
  /** Give up after this long, with the error onTimeout returns. */
  timeoutMs?: number;
  onTimeout?: (ownerPid: number) => Error;
  pollMs?: number;
  signal?: AbortSignal;
}

export async function acquirePidLock(file: string, opts: PidLockOptions = {}): Promise<() => void> {
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(fs.readFileSync(file, 'utf8').trim() || '0');
    if (!owner || !isAlive(owner)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw opts.onTimeout?.(owner) ?? new Error(`${file} is held by pid ${owner}`);
    if (!told) opts.onWait?.(owner);
    told = true;
    if (opts.signal?.aborted) throw opts.signal.reason;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
