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
 * Names of every package (and every virtual package it Provides) in the given components.
 * Cached on disk by InRelease digest: the index is ~10 MB xz per component, and it is only
 * stale when InRelease changes.
 */
export async function packageNames(mirror: string, state: MirrorState, components: string[], arch: string, cacheDir: string,
  opts: RetryOptions = {}): Promise<Map<string, string>> {
  const cacheFile = path.join(cacheDir, 'indexes', `${state.inReleaseSha256}-${components.join('+')}-${arch}.json`);
  if (fs.existsSync(cacheFile)) {
    try {
      return new Map(Object.entries(JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as Record<string, string>));
    } catch {
      fs.rmSync(cacheFile, { force: true }); // a corrupt index cache is just fetched again
    }
  }
  const names = new Map<string, string>();
  for (const component of components) {
    const url = `${mirror.replace(/\/$/, '')}/dists/${state.codename || state.suite}/${component}/binary-${arch}/Packages.xz`;
    const res = await fetchWithRetry(url, opts);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    const { stdout } = await execa('xz', ['-dc'], { input: Buffer.from(await res.arrayBuffer()), maxBuffer: 1 << 30 });
    let current = '';
    for (const line of stdout.split('\n')) {
      if (line.startsWith('Package: ')) {
        current = line.slice(9).trim();
        names.set(current, component);
      } else if (line.startsWith('Provides: ')) {
        for (const p of line.slice(10).split(',')) {
          const virt = p.trim().split(/\s/)[0];
          if (virt && !names.has(virt)) names.set(virt, component);
        }
      }
    }
  }
  writeFileAtomic(cacheFile, JSON.stringify(Object.fromEntries(names)));
  return names;
}
