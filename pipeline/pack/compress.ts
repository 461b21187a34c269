// Streaming compression through the real compressors (xz, zstd) as child processes: the archive
// bytes go to the child's stdin with backpressure, the child writes straight to the output file.
// A compressor failure (bad level, ENOSPC, killed) rejects with the tool's own stderr.
// Reads: nothing from the recipe; callers pass compression.* values in a CompressionSpec.
//
// Output is byte-identical whatever the machine's core count (checked on this machine, xz 5.4.1
// and zstd 1.5.4; see test/unit/pack-compress.test.ts):
// - xz: the multi-threaded encoder cuts the input into fixed-size blocks (3 × dictionary, or the
//   even split of xzBlockSize, from the input's size), so its output does not depend on the
//   thread count, but it differs from the single-threaded encoder.
//   xz 5.4 picks the single-threaded one for -T1, so at least 2 threads are asked for, and
//   --no-adjust makes xz fail rather than fall back to single-threaded under a memory limit.
// - zstd: -T1 is a single-threaded mode with a different output from -T2, -T4…; again >= 2.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import fs from 'node:fs';
import os from 'node:os';

export type CompressorName = 'xz' | 'zstd';

/** Bytes queued for the compressor's stdin before the producer waits. */
const IN_FLIGHT = 4 * 1024 * 1024;

export interface CompressionSpec {
  tool: CompressorName;
  level: number;
  /** zstd only: long-distance matching with a 128 MiB window (plain `zstd -d` still reads it). */
  long?: boolean;
  /** xz only: the input's size, when known beforehand, to split it evenly (xzBlockSize). */
  inputBytes?: number;
}

/** Dictionary of each xz preset in MiB (xz(1)); its default block is 3 × that, at least 1 MiB. */
const XZ_DICT_MIB = [0.25, 1, 2, 4, 4, 8, 8, 16, 32, 64];

/**
 * The block size for xz to cut `inputBytes` into an even number of equal blocks, none larger than
 * its default; undefined when the input fits one default block. Why: the multi-threaded encoder
 * hands whole blocks to threads, and with the default size the last block is often compressed
 * alone while the other core idles. A 275 MB image tar at -6 makes 11 blocks of 24 MiB; as 12
 * equal blocks it packs 6.6 and 8.5 % faster on 2 cores, for 0.4 % more bytes. The size depends on
 * the input only, so the output stays the same on any core count.
 */
export function xzBlockSize(level: number, inputBytes: number): number | undefined {
  const standard = Math.max(1, 3 * XZ_DICT_MIB[level]!) * 1024 * 1024;
  if (inputBytes <= standard) return undefined;
  const blocks = 2 * Math.ceil(inputBytes / standard / 2);
  return Math.ceil(inputBytes / blocks);
}

export const EXTENSION: Record<CompressorName, string> = { xz: 'xz', zstd: 'zst' };

/** Worker threads: every core, but never fewer than 2 (see the header: determinism). */
export function compressorThreads(): number {
  return Math.max(2, os.availableParallelism());
}

export function compressorCommand(spec: CompressionSpec): { cmd: string; args: string[] } {
  const threads = compressorThreads();
  if (spec.tool === 'xz') {
    if (spec.level < 0 || spec.level > 9) throw new RangeError(`xz level ${spec.level} is not 0-9`);
    const block = spec.inputBytes === undefined ? undefined : xzBlockSize(spec.level, spec.inputBytes);
    return { cmd: 'xz', args: ['-q', '-c', `-${spec.level}`, `--threads=${threads}`, '--no-adjust', ...(block ? [`--block-size=${block}`] : [])] };
  }
  if (spec.level < 1 || spec.level > 22) throw new RangeError(`zstd level ${spec.level} is not 1-22`);
  const args = ['-q', '-c', `-${spec.level}`, `-T${threads}`];
  if (spec.level > 19) args.push('--ultra');
  if (spec.long) args.push('--long=27');
  return { cmd: 'zstd', args };
}

export interface CompressResult {
  bytesIn: number;
  bytesOut: number;
}

/**
 * Compresses `source` into `outFile` (created or truncated, mode 0644). Rejects if the source
 * fails (the compressor is killed), if the compressor fails (its stderr is in the message), or
 * if the signal aborts. The caller owns `outFile` and removes it on failure. `recycle` gets each
 * chunk back once it is written, for a source that reuses its buffers (tar-writer.ts).
 */
export async function compressTo(
  source: AsyncIterable<Buffer>,
  outFile: string,
  spec: CompressionSpec,
  signal?: AbortSignal,
  recycle?: (chunk: Buffer) => void,
): Promise<CompressResult> {
  const { cmd, args } = compressorCommand(spec);
  const fd = fs.openSync(outFile, 'w', 0o644);
  let closed = false;
  const closeFd = () => {
    if (!closed) {
      closed = true;
      fs.closeSync(fd);
    }
  };
  try {
    const child = spawn(cmd, args, { stdio: ['pipe', fd, 'pipe'], signal }) as ChildProcessByStdio<Writable, null, Readable>;
    // The child has its own copy of the descriptor now.
    closeFd();
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 64 * 1024) stderr += s;
    });
    const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, sig) => resolve({ code, sig }));
    });
    // An early exit of the compressor shows up as EPIPE on stdin; the exit status says why.
    let stdinError: Error | undefined;
    child.stdin.on('error', (err) => {
      stdinError = err;
    });
    const failure = exited.then(
      (r) => {
        if (r.code === 0) return undefined;
        return new Error(
          `${cmd} ${args.join(' ')} failed (${r.sig ? `killed by ${r.sig}` : `exit code ${r.code}`})${stderr.trim() ? `: ${stderr.trim()}` : ''}`,
        );
      },
      (err: Error) => err,
    );

    let bytesIn = 0;
    try {
      for await (const chunk of source) {
        bytesIn += chunk.length;
        if (stdinError) break;
        // The write callback runs once the bytes are in the pipe: the chunk may be reused then.
        child.stdin.write(
          chunk,
          recycle &&
            ((err) => {
              if (!err) recycle(chunk);
            }),
        );
        // Backpressure, with a few MiB in flight so that producing the next chunk overlaps with
        // the pipe draining (waiting at the stream's 16 KiB mark made packing 2x slower).
        if (child.stdin.writableLength >= IN_FLIGHT) {
          const early = await Promise.race([
            new Promise<undefined>((r) => child.stdin.once('drain', () => r(undefined))),
            failure.then((e) => e ?? new Error(`${cmd} exited before reading all its input`)),
          ]);
          if (early) throw early;
        }
      }
    } catch (err) {
      child.kill('SIGKILL');
      await exited.catch(() => {});
      // The source's error (e.g. a file that vanished) is the cause; the killed child is not.
      throw err;
    }
    child.stdin.end();
    const err = await failure;
    if (err) throw err;
    if (stdinError) throw new Error(`${cmd} stopped reading its input: ${stdinError.message}`);
    return { bytesIn, bytesOut: fs.statSync(outFile).size };
  } finally {
    closeFd();
  }
}

/** Compresses a small buffer (a control.tar) in memory, with the same settings as the big streams. */
export async function compressBuffer(data: Buffer, spec: CompressionSpec, signal?: AbortSignal): Promise<Buffer> {
  const { cmd, args } = compressorCommand(spec);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], signal });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr += s;
  });
  child.stdin.on('error', () => {});
  child.stdin.end(data);
  const { code, sig } = await new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve({ code: c, sig: s }));
  });
  if (code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${sig ? `killed by ${sig}` : `exit code ${code}`})${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
  return Buffer.concat(out);
}
