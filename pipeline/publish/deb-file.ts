// What the index needs to know about one .deb: its control paragraph (read with `dpkg-deb -f`),
// size and hashes, and where it lives in the pool (Debian's layout: pool/<component>/<prefix>/<source>/,
// where the prefix is the source's first letter, or "libX" for lib* sources).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { execa } from 'execa';
import { UsageError } from '../errors.ts';
import { field, parseParagraphs, type Paragraph } from './deb822.ts';

export interface DebInfo {
  file: string;
  control: Paragraph;
  package: string;
  version: string;
  architecture: string;
  source: string;
  size: number;
  md5: string;
  sha256: string;
}

export async function hashFile(file: string): Promise<{ size: number; md5: string; sha256: string }> {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    md5.update(chunk);
    sha256.update(chunk);
    size += chunk.length;
  }
  return { size, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

/** Fields the index adds itself; a control file that carries them is not trusted for them. */
const INDEX_FIELDS = new Set(['filename', 'size', 'md5sum', 'sha1', 'sha256', 'sha512']);

export async function readDeb(file: string): Promise<DebInfo> {
  if (!fs.existsSync(file)) throw new UsageError(`${file}: no such file`);
  const res = await execa('dpkg-deb', ['--field', file], { reject: false, env: { LC_ALL: 'C' } });
  if (res.exitCode !== 0) throw new UsageError(`${file}: not a readable .deb (dpkg-deb: ${res.stderr.trim() || `exit code ${res.exitCode}`})`);
  const [control] = parseParagraphs(res.stdout);
  if (!control) throw new UsageError(`${file}: the .deb has an empty control file`);
  const pkg = field(control, 'Package');
  const version = field(control, 'Version');
  const architecture = field(control, 'Architecture');
  if (!pkg || !version || !architecture) throw new UsageError(`${file}: control file lacks Package, Version or Architecture`);
  const source = (field(control, 'Source') ?? pkg).split(/\s/)[0] ?? pkg;
  return { file, package: pkg, version, architecture, source, control: control.filter(([n]) => !INDEX_FIELDS.has(n.toLowerCase())), ...(await hashFile(file)) };
}

export function poolPath(component: string, deb: Pick<DebInfo, 'package' | 'version' | 'architecture' | 'source'>): string {
  const prefix = deb.source.startsWith('lib') && deb.source.length > 3 ? deb.source.slice(0, 4) : deb.source.slice(0, 1);
  // The epoch is not part of a file name (Debian drops it too): "1:2.0" is stored as _2.0_.
  const version = deb.version.replace(/^\d+:/, '');
  return `pool/${component}/${prefix}/${deb.source}/${deb.package}_${version}_${deb.architecture}.deb`;
}
