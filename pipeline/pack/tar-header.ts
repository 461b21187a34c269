// Encodes tar headers in GNU format, the format `dpkg-deb -b` writes and every dpkg reads.
// Reads: nothing from the recipe.
//
// Why not tar-stream's encoder: for a name longer than ustar allows, or any non-ASCII name, it
// writes a PAX extended header (typeflag 'x'), and dpkg 1.21 (Debian 12) refuses those when
// installing: "corrupted filesystem tarfile in package archive: unsupported PAX tar header type
// 'x'" (checked here with `dpkg --unpack`; `dpkg-deb -x` and GNU tar read them fine, which is why
// only dpkg shows it). GNU long-name entries (typeflag 'L' for names, 'K' for link targets) are
// read by dpkg, GNU tar, busybox tar and tar-stream alike.
//
// Owner names (uname/gname) are always empty: dpkg maps a name that exists on the host to that
// host user's uid, so only numbers keep image files owned as built.

const BLOCK = 512;
const GNU_MAGIC = Buffer.from('ustar  \0', 'latin1');
const LONGLINK = '././@LongLink';

export type HeaderType = 'file' | 'link' | 'symlink' | 'directory';

const TYPEFLAG: Record<HeaderType, string> = { file: '0', link: '1', symlink: '2', directory: '5' };

export interface HeaderFields {
  /** As stored: "./usr/bin/x", "./usr/" for directories. */
  name: string;
  type: HeaderType;
  /** Permission bits, setuid/setgid/sticky included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
}

/**
 * A numeric field: octal digits and a NUL when they fit, else GNU base-256 (first byte 0x80), as
 * GNU tar does for sizes over 8 GiB or ids over 2^21 - 1.
 */
function writeNumber(buf: Buffer, offset: number, width: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`tar header value ${value} is not a non-negative integer`);
  const octal = value.toString(8);
  if (octal.length <= width - 1) {
    buf.write(`${octal.padStart(width - 1, '0')}\0`, offset, 'latin1');
    return;
  }
  let v = BigInt(value);
  for (let i = width - 1; i > 0; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[offset] = 0x80;
}

function checksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

function headerBlock(name: Buffer, typeflag: string, f: Omit<HeaderFields, 'name' | 'type' | 'linkname'>, linkname?: Buffer): Buffer {
  const b = Buffer.alloc(BLOCK);
  name.copy(b, 0, 0, Math.min(name.length, 100));
  writeNumber(b, 100, 8, f.mode & 0o7777);
  writeNumber(b, 108, 8, f.uid);
  writeNumber(b, 116, 8, f.gid);
  writeNumber(b, 124, 12, f.size);
  writeNumber(b, 136, 12, f.mtime);
  b.write(typeflag, 156, 'latin1');
  if (linkname) linkname.copy(b, 157, 0, Math.min(linkname.length, 100));
  GNU_MAGIC.copy(b, 257);
  // uname (265) and gname (297) stay empty on purpose; see the header comment.
  checksum(b);
  return b;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** A GNU long-name entry: its data is the full name with a terminating NUL. */
function longEntry(typeflag: 'L' | 'K', value: Buffer): Buffer {
  const data = Buffer.concat([value, Buffer.alloc(1)]);
  const head = headerBlock(Buffer.from(LONGLINK), typeflag, { mode: 0, uid: 0, gid: 0, size: data.length, mtime: 0 });
  return Buffer.concat([head, data, Buffer.alloc(padding(data.length))]);
}

/** Every block that precedes an entry's data: long-name entries when needed, then its header. */
export function encodeHeader(f: HeaderFields): Buffer {
  const name = Buffer.from(f.name, 'utf8');
  const link = f.linkname === undefined ? undefined : Buffer.from(f.linkname, 'utf8');
  if (name.includes(0) || link?.includes(0)) throw new Error(`tar entry ${f.name}: a name cannot contain NUL`);
  const parts: Buffer[] = [];
  if (name.length > 100) parts.push(longEntry('L', name));
  if (link && link.length > 100) parts.push(longEntry('K', link));
  const size = f.type === 'file' ? f.size : 0;
  parts.push(headerBlock(name, TYPEFLAG[f.type], { ...f, size }, link));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Zero bytes after an entry's data, up to the next 512-byte block. */
export function dataPadding(size: number): Buffer {
  return Buffer.alloc(padding(size));
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** An archive's size from its entries, less the extra blocks of names over 100 bytes. */
export function archiveSizeEstimate(entries: { type: HeaderType; size: number }[]): number {
  return entries.reduce((n, e) => n + BLOCK + (e.type === 'file' ? e.size + padding(e.size) : 0), END_OF_ARCHIVE.length);
}
