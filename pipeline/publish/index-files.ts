// The repository's index files, as text: a Packages file per architecture (sorted as apt sorts,
// so the same set of packages always gives the same bytes), its .gz and .xz, and the Release file
// that lists every index of the suite with its size and hashes, dated and valid until a date.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { compareDebianVersions } from './version-order.ts';
import { field, renderParagraph, renderParagraphs, type Paragraph } from './deb822.ts';

export interface IndexEntry {
  package: string;
  version: string;
  architecture: string;
  sha256: string;
  /** The paragraph as it goes into Packages, Filename and hashes included. */
  paragraph: Paragraph;
}

export function entryKey(e: { package: string; version: string; architecture: string }): string {
  return `${e.package} ${e.version} ${e.architecture}`;
}

export function entryFromParagraph(p: Paragraph): IndexEntry {
  const get = (n: string) => {
    const v = field(p, n);
    if (v === undefined) throw new Error(`Packages entry without ${n}: ${renderParagraph(p).slice(0, 200)}`);
    return v;
  };
  return { package: get('Package'), version: get('Version'), architecture: get('Architecture'), sha256: get('SHA256'), paragraph: p };
}

/** `Architecture: all` packages are listed in every architecture's index (No-Support-for-Architecture-all). */
export function renderPackages(entries: IndexEntry[], arch: string): string {
  const chosen = entries
    .filter((e) => e.architecture === arch || e.architecture === 'all')
    .sort(
      (a, b) =>
        (a.package < b.package ? -1 : a.package > b.package ? 1 : 0) ||
        compareDebianVersions(a.version, b.version) ||
        (a.architecture < b.architecture ? -1 : a.architecture > b.architecture ? 1 : 0),
    );
  return renderParagraphs(chosen.map((e) => e.paragraph));
}

export async function compressIndex(text: string): Promise<{ gz: Buffer; xz: Buffer }> {
  // gzip from zlib writes no name and mtime 0; xz on one thread: both give the same bytes each run.
  const gz = gzipSync(Buffer.from(text), { level: 9 });
  const xz = (await execa('xz', ['-9', '--threads=1', '-c'], { input: text, encoding: 'buffer', stripFinalNewline: false })).stdout;
  return { gz, xz: Buffer.from(xz) };
}

export interface ReleaseFile {
  /** Relative to dists/<suite>/, e.g. main/binary-amd64/Packages.xz */
  path: string;
  data: Uint8Array;
}

export interface ReleaseFields {
  origin: string;
  label: string;
  suite: string;
  codename: string;
  date: number;
  /** Seconds; apt refuses the repository after it ("is expired"), so a mirror cannot serve an old one forever. */
  validUntil: number;
  architectures: string[];
  components: string[];
  description: string;
}

export function releaseDate(seconds: number): string {
  return new Date(seconds * 1000).toUTCString().replace('GMT', 'UTC');
}

export function renderRelease(f: ReleaseFields, files: ReleaseFile[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const width = Math.max(...sorted.map((x) => String(x.data.length).length), 1);
  const list = (algo: string) =>
    sorted.map((x) => ` ${createHash(algo).update(x.data).digest('hex')} ${String(x.data.length).padStart(width)} ${x.path}`).join('\n');
  return [
    `Origin: ${f.origin}`,
    `Label: ${f.label}`,
    `Suite: ${f.suite}`,
    `Codename: ${f.codename}`,
    `Date: ${releaseDate(f.date)}`,
    `Valid-Until: ${releaseDate(f.validUntil)}`,
    `Architectures: ${f.architectures.join(' ')}`,
    `Components: ${f.components.join(' ')}`,
    `Description: ${f.description}`,
    // Clients fetch indexes by hash, so one that read the old InRelease while a publish renames
    // files in place still gets the Packages that InRelease describes.
    'Acquire-By-Hash: yes',
    'No-Support-for-Architecture-all: Packages',
    'MD5Sum:',
    list('md5'),
    'SHA256:',
    list('sha256'),
    '',
  ].join('\n');
}
