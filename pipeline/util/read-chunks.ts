// Synchronous whole-file reads through one shared 1 MiB buffer. The verify stage reads every file
// of the image twice (private-key scan, tree digest); a fresh buffer per file left a trail of
// garbage that grew node's RSS by about 50 MB per pass before the collector caught up.
import fs from 'node:fs';

export const CHUNK = 1 << 20;
const scratch = Buffer.allocUnsafe(CHUNK);

/**
 * Calls `fn` with each successive chunk of `file` (at most 1 MiB; a file of up to 1 MiB is one
 * chunk). The chunk is only valid during the call: the next read overwrites it.
 */
export function forEachChunk(file: string, fn: (chunk: Buffer) => void): void {
  const fd = fs.openSync(file, 'r');
  try {
    for (;;) {
      const n = fs.readSync(fd, scratch, 0, CHUNK, null);
      if (n === 0) break;
      fn(scratch.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
}
