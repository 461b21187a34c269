// What the pipeline reads from the Debian mirror before building: the suite's InRelease (its digest
// keys the bootstrap cache, its Date is the default SOURCE_DATE_EPOCH) and the Packages indexes
// (every requested package is checked against them). Reads: mirror, suite, components, architecture.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { fetchWithRetry, type RetryOptions } from './util/fetch-retry.ts';
import { writeFileAtomic } from './util/fs-atomic.ts';

export interface MirrorState {
  /** sha256 of the suite's InRelease: changes whenever the mirror publishes an update. */
  inReleaseSha256: string;
  /** The Release file's Date, as seconds since the epoch. */
  date: number;
  codename: string;
  suite: string;
  components: string[];
  architectures: string[];
}

export type SuiteLookup = { found: true; state: MirrorState; inRelease: string } | { found: false; status: number };

export async function fetchInRelease(mirror: string, suite: string, opts: RetryOptions = {}): Promise<SuiteLookup> {
  const res = await fetchWithRetry(`${mirror.replace(/\/$/, '')}/dists/${suite}/InRelease`, opts);
  if (!res.ok) return { found: false, status: res.status };
  const text = await res.text();
  return { found: true, state: parseInRelease(text), inRelease: text };
}

export function parseInRelease(text: string): MirrorState {
  const field = (name: string) => new RegExp(`^${name}: *(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const date = Date.parse(field('Date'));
  if (Number.isNaN(date)) throw new Error('InRelease has no valid Date field');
  return {
    inReleaseSha256: createHash('sha256').update(text).digest('hex'),
    date: Math.floor(date / 1000),
    codename: field('Codename'),
    suite: field('Suite'),
    components: field('Components').split(/\s+/).filter(Boolean),
    architectures: field('Architectures').split(/\s+/).filter(Boolean),
  };
}

/**
 * A string of its own. A slice of a line is a view into the whole chunk of output that the line was
 * cut from (V8 sliced strings), so keeping the slices would keep the whole index in memory.
 */
function copyOf(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/**
 * Names of every package (and every virtual package it Provides) in the given components.
 * Cached on disk by InRelease digest: the index is ~10 MB xz per component, and it is only
 * stale when InRelease changes. The cache is text, a "name component" line each under a count:
 * the same names as JSON took 57 MB of node's memory to load, which was the build's peak.
 */
export async function packageNames(mirror: string, state: MirrorState, components: string[], arch: string, cacheDir: string,
  opts: RetryOptions = {}): Promise<Map<string, string>> {
  const cacheFile = path.join(cacheDir, 'indexes', `${state.inReleaseSha256}-${components.join('+')}-${arch}.txt`);
  const cached = fs.existsSync(cacheFile) ? readNames(cacheFile) : undefined;
  if (cached) return cached;
  const names = new Map<string, string>();
  for (const component of components) {
    const url = `${mirror.replace(/\/$/, '')}/dists/${state.codename || state.suite}/${component}/binary-${arch}/Packages.xz`;
    const res = await fetchWithRetry(url, opts);
    if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status}`);
    // Streamed through xz line by line: the index is ~70 MB uncompressed, and holding it as one
    // string (then split into lines) took node to 570 MB on a cold cache (measured); this is flat.
    const xz = execa('xz', ['-dc'], { stdin: res.body, buffer: false });
    for await (const line of xz) {
      if (line.startsWith('Package: ')) {
        names.set(copyOf(line.slice(9).trim()), component);
      } else if (line.startsWith('Provides: ')) {
        for (const p of line.slice(10).split(',')) {
          const virt = p.trim().split(/\s/)[0];
          if (virt && !names.has(virt)) names.set(copyOf(virt), component);
        }
      }
    }
    await xz;
  }
  writeFileAtomic(cacheFile, `${NAMES_HEADER} ${names.size}\n${[...names].map(([n, c]) => `${n} ${c}\n`).join('')}`);
  return names;
}

const NAMES_HEADER = 'ephemeral-builder package names';

/** The cached names, or undefined when the file is not a complete cache (it is then fetched again). */
function readNames(file: string): Map<string, string> | undefined {
  const lines = fs.readFileSync(file, 'latin1').split('\n');
  const count = Number((lines.shift() ?? '').slice(NAMES_HEADER.length + 1));
  const names = new Map<string, string>();
  for (const line of lines) {
    const sp = line.indexOf(' ');
    if (sp > 0) names.set(line.slice(0, sp), line.slice(sp + 1));
  }
  return names.size === count ? names : undefined;
}
