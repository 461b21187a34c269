// Writes a binary .deb without dpkg-deb: an ar archive of debian-binary ("2.0\n"),
// control.tar.<xz|zst> (control, md5sums, conffiles, maintainer scripts) and data.tar.<xz|zst>,
// whose entries are in bytewise order with the symbolic links last, as dpkg-deb writes them.
// Reads: nothing from the recipe directly; pack.ts passes compression.deb / debLevel and
// SOURCE_DATE_EPOCH in.
//
// The data member is compressed to a temporary file next to the output (its size goes into the
// ar header, and md5sums, which precede it, are computed while it is written), then copied in.
// Nothing is held in memory but the control member. Every ar header is fixed: mtime
// SOURCE_DATE_EPOCH, uid/gid 0, mode 100644, as `dpkg-deb -b` writes them with that variable set.
import fs from 'node:fs';
import { compressBuffer, compressTo, EXTENSION, type CompressionSpec } from './compress.ts';
import { formatControl, installedSizeKiB, type ControlFields } from './control.ts';
import { mergeEntries, syntheticEntries, archivePath, symlinksLast, type SyntheticFile, type TarEntry } from './tar-entries.ts';
import { archiveSizeEstimate } from './tar-header.ts';
import { tarStream } from './tar-writer.ts';
import { tempNameFor } from '../util/fs-atomic.ts';
import { forEachChunk } from '../util/read-chunks.ts';

export type MaintainerScriptName = 'preinst' | 'postinst' | 'prerm' | 'postrm';
export const MAINTAINER_SCRIPTS: MaintainerScriptName[] = ['preinst', 'postinst', 'prerm', 'postrm'];

export interface DebSpec {
  /** Written in place: the caller gives a temporary name and renames it when everything is done. */
  outFile: string;
  control: ControlFields;
  /** The package's files, merged and sorted (tar-entries.ts mergeEntries). */
  data: TarEntry[];
  /** Absolute paths of conffiles; each must be a regular file in `data`. */
  conffiles?: string[];
  scripts?: Partial<Record<MaintainerScriptName, string>>;
  /** The control member `triggers` (deb-triggers(5)), if the package has one. */
  triggers?: string;
  compression: CompressionSpec;
  sourceDateEpoch: number;
  onBytes?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface DebResult {
  file: string;
  bytes: number;
  installedSizeKiB: number;
  /** The control file as written. */
  control: string;
}

const AR_MAGIC = '!<arch>\n';

/** A 60-byte ar member header, fields padded with spaces as dpkg-deb writes them. */
export function arHeader(name: string, size: number, mtime: number): Buffer {
  const field = (v: string, width: number) => {
    if (v.length > width) throw new Error(`ar header field "${v}" is longer than ${width}`);
    return v.padEnd(width, ' ');
  };
  const h = `${field(name, 16) + field(String(mtime), 12) + field('0', 6) + field('0', 6) + field('100644', 8) + field(String(size), 10)}\`\n`;
  return Buffer.from(h, 'latin1');
}

function member(name: string, data: Buffer, mtime: number): Buffer {
  const parts = [arHeader(name, data.length, mtime), data];
  if (data.length % 2) parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

function checkSpec(spec: DebSpec): void {
  const files = new Map(spec.data.map((e) => [e.path, e]));
  for (const c of spec.conffiles ?? []) {
    const e = files.get(archivePath(c));
    if (!c.startsWith('/') || e?.type !== 'file') throw new Error(`package ${spec.control.package}: conffile ${c} is not a regular file of the package`);
  }
  for (const [name, body] of Object.entries(spec.scripts ?? {})) {
    if (body !== undefined && !body.startsWith('#!')) throw new Error(`package ${spec.control.package}: maintainer script ${name} does not start with "#!"`);
  }
}

/**
 * Appends `file` to `target` through one reused buffer. A read stream allocates a fresh 1 MiB per
 * read: copying a 60 MB data member that way raised node's RSS by about 65 MB (measured). From the
 * page cache the copy takes tens of milliseconds, so it is synchronous.
 */
function appendFile(target: string, file: string): void {
  const fd = fs.openSync(target, 'a');
  try {
    forEachChunk(file, (chunk) => {
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off);
    });
  } finally {
    fs.closeSync(fd);
  }
}

/** Builds the .deb at spec.outFile. On failure the partial output and the temporary member are removed. */
export async function buildDeb(spec: DebSpec): Promise<DebResult> {
  checkSpec(spec);
  const ext = EXTENSION[spec.compression.tool];
  const sde = spec.sourceDateEpoch;
  const dataTmp = tempNameFor(`${spec.outFile}.data.tar.${ext}`);
  try {
    // 1. data.tar, hashing every file on the way for md5sums.
    const { stream, result, recycle } = tarStream(symlinksLast(spec.data), { md5: true, onBytes: spec.onBytes, signal: spec.signal });
    // compressTo reports the first cause: the tar's own error, or the compressor's.
    // The size is for xz's even block split; the long-name blocks it leaves out do not matter there.
    await compressTo(stream, dataTmp, { ...spec.compression, inputBytes: archiveSizeEstimate(spec.data) }, spec.signal, recycle);
    const written = await result;

    // 2. control.tar: small, made in memory.
    const conffiles = new Set((spec.conffiles ?? []).map(archivePath));
    // A hard link is listed too (as dh_md5sums does), with the md5 of the file it names.
    const md5Of = (e: TarEntry) => written.md5.get(e.type === 'link' ? (e.linkname as string) : e.path);
    const md5sums = spec.data
      .filter((e) => (e.type === 'file' || e.type === 'link') && md5Of(e) !== undefined && !conffiles.has(e.path))
      .map((e) => `${md5Of(e)}  ${e.path}\n`)
      .join('');
    const installedSize = installedSizeKiB(spec.data);
    const control = formatControl(spec.control, installedSize);
    const controlFiles: SyntheticFile[] = [{ path: 'control', mode: 0o644, content: control }];
    if (md5sums) controlFiles.push({ path: 'md5sums', mode: 0o644, content: md5sums });
    if (spec.conffiles?.length) controlFiles.push({ path: 'conffiles', mode: 0o644, content: spec.conffiles.map((c) => `${c}\n`).join('') });
    if (spec.triggers) controlFiles.push({ path: 'triggers', mode: 0o644, content: spec.triggers });
    for (const name of MAINTAINER_SCRIPTS) {
      const body = spec.scripts?.[name];
      if (body !== undefined) controlFiles.push({ path: name, mode: 0o755, content: body });
    }
    const controlEntries = mergeEntries([syntheticEntries(controlFiles, sde)], sde);
    const controlTar = await collect(tarStream(controlEntries).stream);
    const controlMember = await compressBuffer(controlTar, spec.compression, spec.signal);

    // 3. The ar archive: headers and the two small members, then the data member copied in.
    const dataSize = fs.statSync(dataTmp).size;
    const head = Buffer.concat([
      Buffer.from(AR_MAGIC),
      member('debian-binary', Buffer.from('2.0\n'), sde),
      member(`control.tar.${ext}`, controlMember, sde),
      arHeader(`data.tar.${ext}`, dataSize, sde),
    ]);
    fs.writeFileSync(spec.outFile, head, { mode: 0o644 });
    spec.signal?.throwIfAborted();
    appendFile(spec.outFile, dataTmp);
    if (dataSize % 2) fs.appendFileSync(spec.outFile, '\n');
    return { file: spec.outFile, bytes: fs.statSync(spec.outFile).size, installedSizeKiB: installedSize, control };
  } catch (err) {
    fs.rmSync(spec.outFile, { force: true });
    throw err;
  } finally {
    fs.rmSync(dataTmp, { force: true });
  }
}
