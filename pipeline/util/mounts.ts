// Finding and undoing mounts a build left below its own scratch directory. Only paths below the
// directory this build created are touched: never a name pattern, never someone else's mount.
import fs from 'node:fs';
import { execa } from 'execa';

export function mountsBelow(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' ') ?? '')
    .filter((mp) => mp === dir || mp.startsWith(prefix));
}

export async function unmountBelow(dir: string): Promise<void> {
  // Deepest first, so that parents are free when their turn comes.
  for (const mp of mountsBelow(dir).sort((a, b) => b.length - a.length)) {
    await execa('umount', ['--lazy', mp], { reject: false });
  }
}
