// Streams a list of entries (tar-entries.ts) as a tar archive, reading file contents as it goes:
// a pull-based stream (async generator), so nothing is read before the consumer (the compressor's
// stdin) asks for it, and memory stays flat whatever the tree size. Reads: nothing from the recipe.
//
// What makes the archive safe and reproducible (tar-header.ts has the format details):
// - names are "./path" ("./dir/" for directories), as dpkg-deb writes them;
// - uid/gid numeric with EMPTY user and group names (dpkg maps names to host uids);
// - mtimes were clamped to SOURCE_DATE_EPOCH when the entries were made;
// - setuid/setgid/sticky bits are kept (mode & 0o7777);
// - long names and link targets use GNU long-name entries, which dpkg installs (it refuses PAX).
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { dataPadding, encodeHeader, END_OF_ARCHIVE } from './tar-header.ts';
import type { TarEntry } from './tar-entries.ts';

/** Files up to this size are read in one call; larger ones are streamed in chunks of it. */
const CHUNK = 1024 * 1024;
/** Headers and small files are handed on in batches of about this size (fewer pipe writes). */
const BATCH = 256 * 1024;

export interface TarWriteOptions {
  /** Compute each regular file's md5 (for a .deb's md5sums). */
  md5?: boolean;
  /** Called with the number of content bytes written so far. */
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface TarWriteResult {
  entries: number;
  contentBytes: number;
  /** Archive path → md5 hex, for regular files (not hard links), in archive order. */
  md5: Map<string, string>;
}

export function tarName(e: TarEntry): string {
  if (e.path === '') return './';
  return e.type === 'directory' ? `./${e.path}/` : `./${e.path}`;
}

function headerOf(e: TarEntry): Buffer {
  return encodeHeader({
    name: tarName(e),
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: e.type === 'file' ? e.size : 0,
    mtime: e.mtime,
    linkname: e.type === 'symlink' ? e.linkname : e.type === 'link' ? `./${e.linkname}` : undefined,
  });
}

/**
 * The archive as a byte stream, and a promise of what was written. If reading a file fails, the
 * stream throws that error to its consumer and `result` rejects with it; if the consumer stops
 * early, `result` rejects too.
 */
export function tarStream(entries: TarEntry[], opts: TarWriteOptions = {}): { stream: AsyncIterable<Buffer>; result: Promise<TarWriteResult> } {
  let settle!: { resolve: (r: TarWriteResult) => void; reject: (e: unknown) => void };
  const result = new Promise<TarWriteResult>((resolve, reject) => { settle = { resolve, reject }; });
  // The stream's consumer sees a failure first; an unobserved rejection here must not crash.
  result.catch(() => {});
  async function* generate(): AsyncGenerator<Buffer> {
    let finished = false;
    try {
      const r = yield* writeEntries(entries, opts);
      finished = true;
      settle.resolve(r);
    } catch (err) {
      settle.reject(err);
      throw err;
    } finally {
      if (!finished) settle.reject(new Error('the tar stream was not read to its end'));
    }
  }
  return { stream: generate(), result };
}

async function* writeEntries(entries: TarEntry[], opts: TarWriteOptions): AsyncGenerator<Buffer, TarWriteResult> {
  const md5 = new Map<string, string>();
  let contentBytes = 0;
  let batch: Buffer[] = [];
  let batched = 0;
  const add = (b: Buffer) => { if (b.length) { batch.push(b); batched += b.length; } };
  const take = () => { const out = Buffer.concat(batch, batched); batch = []; batched = 0; return out; };

  for (const e of entries) {
    opts.signal?.throwIfAborted();
    add(headerOf(e));
    if (e.type === 'file') {
      const hash: Hash | undefined = opts.md5 ? createHash('md5') : undefined;
      if (e.data || e.size <= CHUNK) {
        const data = e.data ?? (e.size === 0 ? Buffer.alloc(0) : await fs.promises.readFile(e.source as string));
        if (data.length !== e.size) throw new Error(`${e.source} changed size while packing (${e.size} → ${data.length} bytes)`);
        hash?.update(data);
        add(data);
        contentBytes += data.length;
      } else {
        if (batched) yield take();
        let written = 0;
        for await (const chunk of fs.createReadStream(e.source as string, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
          written += chunk.length;
          if (written > e.size) throw new Error(`${e.source} grew while packing (more than ${e.size} bytes)`);
          hash?.update(chunk);
          contentBytes += chunk.length;
          opts.onBytes?.(contentBytes);
          yield chunk;
        }
        if (written !== e.size) throw new Error(`${e.source} changed size while packing (${e.size} → ${written} bytes)`);
      }
      add(dataPadding(e.size));
      if (hash) md5.set(e.path, hash.digest('hex'));
      opts.onBytes?.(contentBytes);
    }
    if (batched >= BATCH) yield take();
  }
  add(END_OF_ARCHIVE);
  yield take();
  return { entries: entries.length, contentBytes, md5 };
}
