// `ephemeral-builder publish`: adds .deb files to an apt repository (pool/ + dists/<suite>/) and
// re-signs it. Earlier versions are never removed, so `apt install pkg=OLD` is a rollback.
// The same name, version and architecture with different bytes is refused before anything is
// touched; with the same bytes it is a no-op.
//
// Release Date: SOURCE_DATE_EPOCH when set (the build's, so republishing the same set of .debs
// gives the same Release), else now, but never earlier than the Date already published: apt
// treats a Release older than the one it has as "not modified" and silently keeps its old
// indexes, so a date going backwards would hide new versions from every client.
//
// Atomic for readers: new files are written under temporary names, then renamed in dependency
// order (pool, by-hash, Packages*, Release, Release.gpg, InRelease last); clients fetch indexes
// by hash, so one that read the old InRelease still finds the Packages it describes.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { UsageError } from '../errors.ts';
import { requireTools } from '../host-tools.ts';
import { tempNameFor } from '../util/fs-atomic.ts';
import { acquirePidLock } from '../util/pid-lock.ts';
import { field, parseParagraphs, type Paragraph } from './deb822.ts';
import { poolPath, readDeb, hashFile, type DebInfo } from './deb-file.ts';
import { clearsign, detachSign, exportPublicKey, signingFingerprint, verifySignatures, type GpgOptions } from './gpg.ts';
import { compressIndex, entryFromParagraph, entryKey, renderPackages, renderRelease, type IndexEntry, type ReleaseFile } from './index-files.ts';
import { keyringFileName, renderSources } from './sources.ts';

export interface PublishOptions {
  repoDir: string;
  suite?: string;
  component?: string;
  /** Key id, fingerprint or user id of the signing key; default: the only secret key there is. */
  signKey?: string;
  gnupgHome?: string;
  debs: string[];
  /** Origin and Label of the repository, and the stem of the keyring and .sources names.
   *  Default: the Origin already published, else the shortest package name among `debs`. */
  name?: string;
  /** URI written into the example .sources file (default: a placeholder to replace). */
  sourcesUri?: string;
  /** Release Date in seconds; default SOURCE_DATE_EPOCH, else now (see the header). */
  date?: number;
}

export interface PublishedPackage { package: string; version: string; architecture: string; filename: string }

export interface PublishResult {
  added: PublishedPackage[];
  /** Already in the repository with identical content. */
  unchanged: PublishedPackage[];
  /** False when nothing was new and the indexes were left as they were. */
  indexesWritten: boolean;
  fingerprint: string;
  /** Absolute paths. */
  release: string;
  inRelease: string;
  keyring: string;
  sources: string;
}

export type PublishLog = (line: string) => void;

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export async function publish(opts: PublishOptions, log: PublishLog = () => {}): Promise<PublishResult> {
  const suite = opts.suite ?? 'stable';
  const component = opts.component ?? 'main';
  if (!SAFE_SEGMENT.test(suite)) throw new UsageError(`--suite ${JSON.stringify(suite)}: use letters, digits, ".", "_", "+" and "-"`);
  if (!SAFE_SEGMENT.test(component)) throw new UsageError(`--component ${JSON.stringify(component)}: use letters, digits, ".", "_", "+" and "-"`);
  if (opts.debs.length === 0) throw new UsageError('publish: no .deb files given');
  requireTools(['dpkg-deb', 'gpg', 'gpgv', 'xz']);
  const repoDir = path.resolve(opts.repoDir);
  fs.mkdirSync(repoDir, { recursive: true });
  const gpgOpts: GpgOptions = { signKey: opts.signKey, gnupgHome: opts.gnupgHome };

  const unlock = await lockRepo(repoDir, log);
  try {
    // Everything that can refuse runs before anything is written.
    const fingerprint = await signingFingerprint(gpgOpts);
    const debs = await Promise.all(opts.debs.map((f) => readDeb(path.resolve(f))));
    const suiteDir = path.join(repoDir, 'dists', suite);
    const previous = readRelease(suiteDir);
    const existing = readComponentIndex(suiteDir, component);
    const { added, unchanged } = await plan(repoDir, component, debs, existing);

    const name = opts.name ?? previous?.origin ?? [...debs].sort((a, b) => a.package.length - b.package.length)[0]!.package;
    const described = (d: DebInfo): PublishedPackage => ({ package: d.package, version: d.version, architecture: d.architecture, filename: poolPath(component, d) });
    const result = (indexesWritten: boolean): PublishResult => ({
      added: added.map(described), unchanged: unchanged.map(described), indexesWritten, fingerprint,
      release: path.join(suiteDir, 'Release'), inRelease: path.join(suiteDir, 'InRelease'),
      keyring: path.join(repoDir, keyringFileName(name)), sources: path.join(repoDir, `${name}.sources`),
    });

    for (const d of unchanged) log(`unchanged: ${d.package} ${d.version} ${d.architecture} (same content already published)`);
    const keyring = await exportPublicKey(gpgOpts, fingerprint);
    if (added.length === 0 && previous) {
      writeAll([
        [path.join(repoDir, keyringFileName(name)), keyring],
        [path.join(repoDir, `${name}.sources`), renderSources({ name, uri: opts.sourcesUri, suite, component })],
      ]);
      log('nothing new to publish; indexes left as they were');
      return result(false);
    }

    // 1. The indexes of this component, then Release over every component of the suite, signed.
    const entries = [...existing.values(), ...added.map((d) => indexEntry(component, d))];
    const arches = [...new Set([
      ...(previous?.architectures ?? []),
      ...entries.map((e) => e.architecture).filter((a) => a !== 'all'),
    ])].sort();
    if (arches.length === 0) arches.push((await execa('dpkg', ['--print-architecture'])).stdout.trim());
    const files: ReleaseFile[] = [];
    for (const arch of arches) {
      const text = renderPackages(entries, arch);
      const { gz, xz } = await compressIndex(text);
      const dir = `${component}/binary-${arch}`;
      files.push({ path: `${dir}/Packages`, data: Buffer.from(text) }, { path: `${dir}/Packages.gz`, data: gz }, { path: `${dir}/Packages.xz`, data: xz });
    }
    const components = new Set([component]);
    for (const other of otherComponentIndexes(suiteDir, component)) {
      files.push(other.file);
      components.add(other.component);
    }
    const date = Math.max(opts.date ?? envEpoch() ?? Math.floor(Date.now() / 1000), previous?.date ?? 0);
    const release = renderRelease({
      origin: name, label: name, suite, codename: suite, date, architectures: arches,
      components: [...components].sort(), description: `${name} packages`,
    }, files);
    const inRelease = await clearsign(gpgOpts, fingerprint, release);
    const releaseGpg = await detachSign(gpgOpts, fingerprint, release);
    // What apt will do, before anything is published: both signatures against the exported keyring.
    await verifySignatures(keyring, inRelease, release, releaseGpg);

    // 2. The pool: new files only, never an overwrite (plan() refused those). After signing, so a
    // key that fails leaves no unindexed file behind.
    for (const d of added) {
      const dest = path.join(repoDir, poolPath(component, d));
      if (fs.existsSync(dest)) continue; // an identical file left by an interrupted publish
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      const tmp = tempNameFor(dest);
      fs.copyFileSync(d.file, tmp);
      fs.renameSync(tmp, dest);
      log(`added: ${d.package} ${d.version} ${d.architecture} -> ${poolPath(component, d)}`);
    }

    // 3. The indexes, in the order that keeps every state a reader can see consistent.
    const ours = files.filter((f) => f.path.startsWith(`${component}/`));
    writeAll([
      ...ours.map((f): [string, Uint8Array] => [
        path.join(suiteDir, path.dirname(f.path), 'by-hash', 'SHA256', createHash('sha256').update(f.data).digest('hex')), f.data]),
      ...ours.map((f): [string, Uint8Array] => [path.join(suiteDir, f.path), f.data]),
      [path.join(suiteDir, 'Release'), release],
      [path.join(suiteDir, 'Release.gpg'), releaseGpg],
      [path.join(suiteDir, 'InRelease'), inRelease],
      [path.join(repoDir, keyringFileName(name)), keyring],
      [path.join(repoDir, `${name}.sources`), renderSources({ name, uri: opts.sourcesUri, suite, component })],
    ]);
    log(`signed dists/${suite}/InRelease with ${fingerprint}; ${entries.length} package versions in ${component}`);
    return result(true);
  } finally {
    unlock();
  }
}

function indexEntry(component: string, d: DebInfo): IndexEntry {
  const paragraph: Paragraph = [
    ...d.control,
    ['Filename', poolPath(component, d)],
    ['Size', String(d.size)],
    ['MD5sum', d.md5],
    ['SHA256', d.sha256],
  ];
  return { package: d.package, version: d.version, architecture: d.architecture, sha256: d.sha256, paragraph };
}

/** Sorts the given .debs into new and already-published ones; refuses any conflict, all listed at once. */
async function plan(repoDir: string, component: string, debs: DebInfo[], existing: Map<string, IndexEntry>): Promise<{ added: DebInfo[]; unchanged: DebInfo[] }> {
  const added = new Map<string, DebInfo>();
  const unchanged: DebInfo[] = [];
  const conflicts: string[] = [];
  for (const d of debs) {
    const key = entryKey(d);
    const known = existing.get(key);
    const sameBatch = added.get(key);
    if (known) {
      if (known.sha256 === d.sha256) unchanged.push(d);
      else conflicts.push(`${d.file}: ${d.package} ${d.version} (${d.architecture}) is already published with different content (sha256 ${known.sha256.slice(0, 16)}…, this file ${d.sha256.slice(0, 16)}…). Published versions are immutable: build a new version.`);
    } else if (sameBatch) {
      if (sameBatch.sha256 !== d.sha256) conflicts.push(`${d.file}: ${d.package} ${d.version} (${d.architecture}) is given twice with different content (also ${sameBatch.file})`);
    } else {
      const pooled = path.join(repoDir, poolPath(component, d));
      if (fs.existsSync(pooled) && (await hashFile(pooled)).sha256 !== d.sha256) {
        conflicts.push(`${d.file}: ${poolPath(component, d)} already exists with different content (published to another suite?). Published versions are immutable: build a new version.`);
      } else {
        added.set(key, d);
      }
    }
  }
  if (conflicts.length) throw new UsageError(`publish refused, nothing was changed:\n${conflicts.join('\n')}`);
  return { added: [...added.values()], unchanged };
}

interface PreviousRelease { origin?: string; date?: number; architectures: string[] }

function readRelease(suiteDir: string): PreviousRelease | undefined {
  const file = path.join(suiteDir, 'Release');
  if (!fs.existsSync(file)) return undefined;
  const [p] = parseParagraphs(fs.readFileSync(file, 'utf8'));
  if (!p) return undefined;
  const ms = Date.parse(field(p, 'Date') ?? '');
  return {
    origin: field(p, 'Origin'),
    date: Number.isNaN(ms) ? undefined : Math.floor(ms / 1000),
    architectures: (field(p, 'Architectures') ?? '').split(/\s+/).filter(Boolean),
  };
}

/** Every entry of every binary-<arch>/Packages of one component, by name+version+arch. */
function readComponentIndex(suiteDir: string, component: string): Map<string, IndexEntry> {
  const entries = new Map<string, IndexEntry>();
  const dir = path.join(suiteDir, component);
  if (!fs.existsSync(dir)) return entries;
  for (const sub of fs.readdirSync(dir).filter((s) => s.startsWith('binary-')).sort()) {
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
function otherComponentIndexes(suiteDir: string, component: string): Array<{ component: string; file: ReleaseFile }> {
  if (!fs.existsSync(suiteDir)) return [];
  const out: Array<{ component: string; file: ReleaseFile }> = [];
  for (const comp of fs.readdirSync(suiteDir).sort()) {
    const compDir = path.join(suiteDir, comp);
    if (comp === component || !fs.statSync(compDir).isDirectory()) continue;
    for (const sub of fs.readdirSync(compDir).filter((s) => s.startsWith('binary-')).sort()) {
      for (const name of ['Packages', 'Packages.gz', 'Packages.xz']) {
        const file = path.join(compDir, sub, name);
        if (fs.existsSync(file)) out.push({ component: comp, file: { path: `${comp}/${sub}/${name}`, data: fs.readFileSync(file) } });
      }
    }
  }
  return out;
}

/** Writes every file under a temporary name first, then renames them in the order given. */
function writeAll(files: Array<[string, string | Uint8Array]>): void {
  const staged: Array<[string, string]> = [];
  try {
    for (const [final, data] of files) {
      fs.mkdirSync(path.dirname(final), { recursive: true });
      const tmp = tempNameFor(final);
      staged.push([tmp, final]);
      fs.writeFileSync(tmp, data, { mode: 0o644 });
    }
    for (const [tmp, final] of staged) fs.renameSync(tmp, final);
  } finally {
    for (const [tmp] of staged) fs.rmSync(tmp, { force: true });
  }
}

function envEpoch(): number | undefined {
  const raw = process.env.SOURCE_DATE_EPOCH;
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`SOURCE_DATE_EPOCH=${raw} is not a number of seconds`);
  return n;
}

/** One publisher per repository at a time; a second waits up to a minute. A dead owner's lock is stale. */
function lockRepo(repoDir: string, log: PublishLog): Promise<() => void> {
  const file = path.join(repoDir, '.publish.lock');
  return acquirePidLock(file, {
    timeoutMs: 60_000, pollMs: 250,
    onWait: (owner) => log(`waiting for another publish (pid ${owner}) to finish`),
    onTimeout: (owner) => new UsageError(`${repoDir} is locked by another publish (pid ${owner}); remove ${file} if that process is gone`),
  });
}
