// The .tar.zst for hosts without apt: the same paths as the two packages' data, streamed through
// zstd. Also an entry point for bench/: packTarball(dir or entries, outFile, opts).
// Reads: nothing from the recipe directly; pack.ts passes compression.tarballLevel (or 3 with --fast).
//
// --long=27 (used by the pack stage): measured here on a 275 MB trixie minbase+openssh+git tar,
// zstd 1.5.4 -19 -T2: 66.6 MB without, 61.4 MB with (-7.8 %), about the same time; zstd's RSS
// 354 MB → 483 MB. A 128 MiB window is the largest plain `zstd -d` and `tar --zstd` accept
// without flags, so hosts need nothing special (checked: `zstd -lv` shows Window Size 128 MiB).
import fs from 'node:fs';
import { compressTo, type CompressResult } from './compress.ts';
import { mergeEntries, scanTree, type TarEntry } from './tar-entries.ts';
import { tarStream, type TarWriteResult } from './tar-writer.ts';

export interface TarballOptions {
  level: number;
  /** Long-distance matching (128 MiB window); readable by plain `zstd -d` and `tar --zstd`. */
  long?: boolean;
  /** Needed when `tree` is a directory: mtimes are clamped to it. */
  sourceDateEpoch?: number;
  /** Path prefix inside the archive when `tree` is a directory ("" = the archive root). */
  prefix?: string;
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface TarballResult extends CompressResult {
  entries: number;
  contentBytes: number;
}

/** Streams `tree` (a directory, or merged entries) into `outFile` as zstd-compressed tar. */
export async function packTarball(tree: string | TarEntry[], outFile: string, opts: TarballOptions): Promise<TarballResult> {
  let entries: TarEntry[];
  if (typeof tree === 'string') {
    const sde = opts.sourceDateEpoch ?? Math.floor(Date.now() / 1000);
    entries = mergeEntries([await scanTree(tree, opts.prefix ?? '', sde)], sde);
  } else {
    entries = tree;
  }
  const { stream, result, recycle } = tarStream(entries, { onBytes: opts.onBytes, signal: opts.signal });
  try {
    // compressTo reports the first cause: the tar's own error, or the compressor's.
    const compressed: CompressResult = await compressTo(stream, outFile, { tool: 'zstd', level: opts.level, long: opts.long }, opts.signal, recycle);
    const written: TarWriteResult = await result;
    return { ...compressed, entries: written.entries, contentBytes: written.contentBytes };
  } catch (err) {
    fs.rmSync(outFile, { force: true });
    throw err;
  }
}
