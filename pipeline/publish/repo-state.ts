// Reading an apt repository as publish left it: the suite's Release (origin, date, architectures,
// the index hashes), the Packages entries of each component, the pool files any suite still
// names, and the size of every file, so that a publish can be planned, and its size known,
// before anything is written.
import fs from 'node:fs';
import path from 'node:path';
import { field, parseParagraphs } from './deb822.ts';
import { entryFromParagraph, entryKey, type IndexEntry, type ReleaseFile } from './index-files.ts';

export interface PreviousRelease {
  origin?: string;
  date?: number;
  architectures: string[];
  /** The SHA256 of every index it lists: clients holding it fetch those by hash. */
  indexHashes: Set<string>;
}

export function readRelease(suiteDir: string): PreviousRelease | undefined {
  const file = path.join(suiteDir, 'Release');
  if (!fs.existsSync(file)) return undefined;
  const [p] = parseParagraphs(fs.readFileSync(file, 'utf8'));
  if (!p) return undefined;
  const ms = Date.parse(field(p, 'Date') ?? '');
  const hashes = (field(p, 'SHA256') ?? '')
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((h): h is string => Boolean(h));
  return {
    origin: field(p, 'Origin'),
    date: Number.isNaN(ms) ? undefined : Math.floor(ms / 1000),
    architectures: (field(p, 'Architectures') ?? '').split(/\s+/).filter(Boolean),
    indexHashes: new Set(hashes),
  };
}

function binaryDirs(componentDir: string): string[] {
  if (!fs.existsSync(componentDir)) return [];
  return fs
    .readdirSync(componentDir)
    .filter((s) => s.startsWith('binary-'))
    .sort();
}

/** Every entry of every binary-<arch>/Packages of one component, by name+version+arch. */
export function readComponentIndex(suiteDir: string, component: string): Map<string, IndexEntry> {
  const entries = new Map<string, IndexEntry>();
  const dir = path.join(suiteDir, component);
  for (const sub of binaryDirs(dir)) {
    const file = path.join(dir, sub, 'Packages');
    if (!fs.existsSync(file)) continue;
    for (const p of parseParagraphs(fs.readFileSync(file, 'utf8'))) {
      const e = entryFromParagraph(p);
      entries.set(entryKey(e), e);
    }
  }
  return entries;
}

/** Index files of the suite's other components, listed in Release as they are. */
export function otherComponentIndexes(suiteDir: string, component: string): Array<{ component: string; file: ReleaseFile }> {
  if (!fs.existsSync(suiteDir)) return [];
  const out: Array<{ component: string; file: ReleaseFile }> = [];
  for (const comp of fs.readdirSync(suiteDir).sort()) {
    const compDir = path.join(suiteDir, comp);
    if (comp === component || !fs.statSync(compDir).isDirectory()) continue;
    for (const sub of binaryDirs(compDir)) {
      for (const name of ['Packages', 'Packages.gz', 'Packages.xz']) {
        const file = path.join(compDir, sub, name);
        if (fs.existsSync(file)) out.push({ component: comp, file: { path: `${comp}/${sub}/${name}`, data: fs.readFileSync(file) } });
      }
    }
  }
  return out;
}

/** Pool files named by every Packages index of the repository except one component of one suite. */
export function poolFilesNamedElsewhere(repoDir: string, suite: string, component: string): Set<string> {
  const named = new Set<string>();
  const dists = path.join(repoDir, 'dists');
  if (!fs.existsSync(dists)) return named;
  for (const s of fs.readdirSync(dists)) {
    const suiteDir = path.join(dists, s);
    if (!fs.statSync(suiteDir).isDirectory()) continue;
    for (const comp of fs.readdirSync(suiteDir)) {
      if ((s === suite && comp === component) || !fs.statSync(path.join(suiteDir, comp)).isDirectory()) continue;
      for (const e of readComponentIndex(suiteDir, comp).values()) {
        const f = field(e.paragraph, 'Filename');
        if (f) named.add(f);
      }
    }
  }
  return named;
}

/** Every file of the repository with its size, by path relative to it (dot files, such as the lock, left out). */
export function repoFileSizes(repoDir: string): Map<string, number> {
  const sizes = new Map<string, number>();
  if (!fs.existsSync(repoDir)) return sizes;
  for (const rel of fs.readdirSync(repoDir, { recursive: true, encoding: 'utf8' })) {
    if (rel.split(path.sep).some((s) => s.startsWith('.'))) continue;
    const st = fs.lstatSync(path.join(repoDir, rel));
    if (st.isFile()) sizes.set(rel, st.size);
  }
  return sizes;
}
