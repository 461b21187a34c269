// What the pipeline reads from an apt source (a Debian suite, or an extra repository) before
// building: the suite's InRelease (its digest keys the bootstrap cache, its Date is the default
// SOURCE_DATE_EPOCH, its SHA256 list vouches for the indexes) and the Packages indexes (every
// requested package is checked against them).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { StageError } from './errors.ts';
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
  /** The directory under dists/ the InRelease was read from, as the recipe named it. */
  dist: string;
  /** The Packages indexes InRelease lists ("main/binary-amd64/Packages.xz") and their sha256. */
  packagesIndexes: Record<string, string>;
  /** Acquire-By-Hash: indexes can be fetched by their digest, which a mirror update never replaces. */
  byHash: boolean;
  /** Whether `Architecture: all` packages have an index of their own (binary-all) to read. */
  separateAllIndex: boolean;
  /** Valid-Until, as seconds since the epoch: apt refuses the suite after it. */
  validUntil?: number;
}

export type SuiteLookup = { found: true; state: MirrorState; inRelease: string } | { found: false; status: number };

export async function fetchInRelease(mirror: string, suite: string, opts: RetryOptions = {}): Promise<SuiteLookup> {
  const res = await fetchWithRetry(`${mirror.replace(/\/$/, '')}/dists/${suite}/InRelease`, opts);
  if (!res.ok) return { found: false, status: res.status };
  const text = await res.text();
  return { found: true, state: parseInRelease(text, suite), inRelease: text };
}

export function parseInRelease(text: string, dist: string): MirrorState {
  const field = (name: string) => new RegExp(`^${name}: *(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const date = Date.parse(field('Date'));
  if (Number.isNaN(date)) throw new Error('InRelease has no valid Date field');
  return {
    inReleaseSha256: createHash('sha256').update(text).digest('hex'),
    date: Math.floor(date / 1000),
    codename: field('Codename'),
    suite: field('Suite'),
    // The security archive lists "updates/main" for what lives under main/, as apt understands it.
    components: field('Components')
      .split(/\s+/)
      .filter(Boolean)
      .map((c) => c.replace(/^updates\//, '')),
    architectures: field('Architectures').split(/\s+/).filter(Boolean),
    dist,
    packagesIndexes: packagesIndexesOf(text),
    byHash: /^yes$/i.test(field('Acquire-By-Hash')),
    ...(Number.isNaN(Date.parse(field('Valid-Until'))) ? {} : { validUntil: Math.floor(Date.parse(field('Valid-Until')) / 1000) }),
    // Debian lists them in every architecture's index too, and says so.
    separateAllIndex: field('Architectures').split(/\s+/).includes('all') && !/^Packages$/i.test(field('No-Support-for-Architecture-all')),
  };
}

/** The SHA256 section's Packages entries: " <sha256> <size> <path>" lines after "SHA256:". */
function packagesIndexesOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const section = /^SHA256:\n((?:[ \t].*\n?)*)/m.exec(text)?.[1] ?? '';
  for (const line of section.split('\n')) {
    const [sha256, , file] = line.trim().split(/\s+/);
    if (sha256 && file && /^[^/]+\/binary-[^/]+\/Packages(\.xz|\.gz)?$/.test(file)) out[file] = sha256;
  }
  return out;
}

/** The best Packages index InRelease lists for a component and architecture: xz, gz, then plain. */
export function packagesIndexFor(state: MirrorState, component: string, arch: string): { file: string; sha256: string } | undefined {
  for (const ext of ['.xz', '.gz', '']) {
    const file = `${component}/binary-${arch}/Packages${ext}`;
    const sha256 = state.packagesIndexes[file];
    if (sha256) return { file, sha256 };
  }
  return undefined;
}

/**
 * Calls onLine for every line of a component's Packages index, streamed (the Debian index is
 * ~70 MB uncompressed), and checks the download against the sha256 the InRelease gives for it, so
 * an index is only believed when the signed InRelease vouches for it.
 */
export async function readPackagesIndex(
  mirror: string,
  state: MirrorState,
  component: string,
  arch: string,
  onLine: (line: string) => void,
  opts: RetryOptions = {},
): Promise<void> {
  const index = packagesIndexFor(state, component, arch);
  const base = `${mirror.replace(/\/$/, '')}/dists/${state.dist}`;
  if (!index) throw new StageError('mirror', `${base}/InRelease lists no Packages index for ${component} on ${arch}`);
  // By hash where the mirror offers it (as apt does): the file an InRelease names by its digest
  // stays there while the mirror publishes the next one, so a read never races an update.
  // A mirror that lacks the by-hash copy is read by name, as apt does.
  let url = `${base}/${path.posix.dirname(index.file)}/by-hash/SHA256/${index.sha256}`;
  let res = state.byHash ? await fetchWithRetry(url, opts) : undefined;
  if (!res?.ok) {
    url = `${base}/${index.file}`;
    res = await fetchWithRetry(url, opts);
  }
  if (!res.ok || !res.body)
    throw new StageError('mirror', `${url}: HTTP ${res.status}`, 'the mirror is incomplete or being updated; try again, or use another mirror');
  const hash = createHash('sha256');
  const body = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        hash.update(chunk);
        out.enqueue(chunk);
      },
    }),
  );
  const decompress = index.file.endsWith('.xz') ? ['xz', '-dc'] : index.file.endsWith('.gz') ? ['gzip', '-dc'] : ['cat'];
  const child = execa(decompress[0] as string, decompress.slice(1), { stdin: body, buffer: false });
  for await (const line of child) onLine(line);
  await child;
  const actual = hash.digest('hex');
  if (actual !== index.sha256) {
    throw new StageError(
      'mirror',
      `${url} does not match the sha256 its InRelease gives (${actual.slice(0, 12)}, not ${index.sha256.slice(0, 12)})`,
      'the mirror is inconsistent (being updated) or tampered with; try again, or use another mirror',
    );
  }
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
export async function packageNames(
  mirror: string,
  state: MirrorState,
  components: string[],
  arch: string,
  cacheDir: string,
  opts: RetryOptions = {},
): Promise<Map<string, string>> {
  const cacheFile = path.join(cacheDir, 'indexes', `${state.inReleaseSha256}-${components.join('+')}-${arch}.txt`);
  const cached = fs.existsSync(cacheFile) ? readNames(cacheFile) : undefined;
  if (cached) return cached;
  const names = new Map<string, string>();
  for (const component of components) {
    // Line by line: holding the ~70 MB index as one string (then split into lines) took node to
    // 570 MB on a cold cache (measured); this is flat.
    await readPackagesIndex(
      mirror,
      state,
      component,
      arch,
      (line) => {
        if (line.startsWith('Package: ')) {
          names.set(copyOf(line.slice(9).trim()), component);
        } else if (line.startsWith('Provides: ')) {
          for (const p of line.slice(10).split(',')) {
            const virt = p.trim().split(/\s/)[0];
            if (virt && !names.has(virt)) names.set(copyOf(virt), component);
          }
        }
      },
      opts,
    );
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
