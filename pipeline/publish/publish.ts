// `ephemeral-builder publish`: adds .deb files to an apt repository (pool/ + dists/<suite>/),
// keeps the repository's keyring package current, prunes old releases (--keep), and signs it.
// Without --keep no version is ever removed, so `apt install pkg=OLD` is a rollback. The same
// name, version and architecture with different bytes is refused before anything is touched;
// with the same bytes it is a no-op.
//
// A plan comes first: what is added, unchanged and pruned, whether Release is signed again, and
// how big the repository becomes. Everything that can refuse (a conflict, a key that expires
// before Valid-Until, a size over --max-size) refuses there, before anything is written; with
// --dry-run the plan is all there is.
//
// Release Date: now (tests fake the clock with `date`), but never earlier than the Date already
// published: apt treats a Release older than the one it has as "not modified" and silently keeps
// its old indexes. Valid-Until is Date plus --valid-for (21 days by default): after it apt
// refuses the repository, so a mirror cannot serve an old one, with its known-vulnerable image,
// forever. A scheduled `publish --resign` signs it again before then.
//
// Atomic for readers: new files are written under temporary names, then renamed in dependency
// order (pool, by-hash, Packages*, Release, Release.gpg, InRelease last); clients fetch indexes
// by hash, so one that read the old InRelease still finds the Packages it describes. Pruned pool
// files and index copies neither the new nor the previous Release names are removed last.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { UsageError } from '../errors.ts';
import { requireTools } from '../build-machine.ts';
import { tempNameFor } from '../util/fs-atomic.ts';
import { acquirePidLock } from '../util/pid-lock.ts';
import { field, type Paragraph } from './deb822.ts';
import { poolPath, readDeb, hashFile, type DebInfo } from './deb-file.ts';
import { clearsign, describeKey, detachSign, exportPublicKey, readPublicKeys, signingFingerprint, verifySignatures, type GpgOptions } from './gpg.ts';
import { compressIndex, entryKey, renderPackages, renderRelease, type IndexEntry, type ReleaseFile } from './index-files.ts';
import { keyringPackage, type KeyringKey } from './keyring-package.ts';
import { otherComponentIndexes, poolFilesNamedElsewhere, readComponentIndex, readRelease, repoFileSizes, type PreviousRelease } from './repo-state.ts';
import { planRetention } from './retention.ts';
import { keyringFileName, keyringPackageName, renderSources } from './sources.ts';

export interface PublishOptions {
  repoDir: string;
  suite?: string;
  component?: string;
  /** Key id, fingerprint or user id of the signing key; default: the only secret key there is. */
  signKey?: string;
  gnupgHome?: string;
  /** .deb files to add; none is fine with resign, keep or nextKeys. */
  debs: string[];
  /** Origin and Label of the repository, and the stem of the keyring and .sources names.
   *  Default: the Origin already published, else the shortest package name among `debs`. */
  name?: string;
  /** URI written into the example .sources file (default: a placeholder to replace). */
  sourcesUri?: string;
  /** Release Date in seconds; default now (see the header). */
  date?: number;
  /** Seconds from Date to Valid-Until; default DEFAULT_VALID_FOR. */
  validFor?: number;
  /** Files with the public keys of the next signing keys: the keyring carries them from now on. */
  nextKeys?: string[];
  /** Sign again even when nothing else changed: a new Date and Valid-Until. */
  resign?: boolean;
  /** Keep the newest N releases of <name> (retention.ts) and prune the rest. */
  keep?: number;
  /** Refuse a publish that adds packages when the repository would then be larger (bytes). */
  maxSize?: number;
  /** Plan only: write nothing, sign nothing. */
  dryRun?: boolean;
}

export const DEFAULT_VALID_FOR = 21 * 86_400;

export interface PublishedPackage {
  package: string;
  version: string;
  architecture: string;
  filename: string;
}

export interface PublishPlan {
  dryRun: boolean;
  name: string;
  suite: string;
  component: string;
  fingerprint: string;
  /** The keys the keyring (and its package) holds: the signing key first. */
  keys: KeyringKey[];
  added: PublishedPackage[];
  /** Already in the repository with identical content. */
  unchanged: PublishedPackage[];
  /** Releases --keep prunes, newest first. */
  pruned: Array<{ version: string; packages: PublishedPackage[] }>;
  /** Versions of <name> that stay with --keep, newest first. */
  kept?: string[];
  /** Whether Release is written and signed: something changed, or --resign. */
  signs: boolean;
  date: number;
  validUntil: number;
  /** Bytes of every file of the repository, before and after (signatures estimated with --dry-run). */
  size: { before: number; after: number; limit?: number; files: number };
  warnings: string[];
}

export interface PublishResult extends PublishPlan {
  /** False when nothing changed, and with --dry-run. */
  indexesWritten: boolean;
  /** Absolute paths. */
  release: string;
  inRelease: string;
  keyring: string;
  sources: string;
}

export type PublishLog = (line: string) => void;

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
/** A signing key that expires sooner than this after Valid-Until gets a warning to rotate. */
const ROTATE_WARNING = 60 * 86_400;

export async function publish(opts: PublishOptions, log: PublishLog = () => {}): Promise<PublishResult> {
  const suite = opts.suite ?? 'stable';
  const component = opts.component ?? 'main';
  const validFor = opts.validFor ?? DEFAULT_VALID_FOR;
  if (!SAFE_SEGMENT.test(suite)) throw new UsageError(`--suite ${JSON.stringify(suite)}: use letters, digits, ".", "_", "+" and "-"`);
  if (!SAFE_SEGMENT.test(component)) throw new UsageError(`--component ${JSON.stringify(component)}: use letters, digits, ".", "_", "+" and "-"`);
  if (!(validFor > 0)) throw new UsageError('--valid-for must be more than zero');
  if (opts.debs.length === 0 && !opts.resign && opts.keep === undefined && !opts.nextKeys?.length) {
    throw new UsageError('publish: nothing to do: give .deb files, --resign, --keep or --next-key');
  }
  requireTools(['dpkg-deb', 'gpg', 'gpgv', 'xz']);
  const repoDir = path.resolve(opts.repoDir);
  const dryRun = Boolean(opts.dryRun);
  if (!dryRun) fs.mkdirSync(repoDir, { recursive: true });
  const gpgOpts: GpgOptions = { signKey: opts.signKey, gnupgHome: opts.gnupgHome };
  const suiteDir = path.join(repoDir, 'dists', suite);
  const paths = { release: path.join(suiteDir, 'Release'), inRelease: path.join(suiteDir, 'InRelease') };

  const unlock = dryRun ? () => {} : await lockRepo(repoDir, log);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-publish-'));
  try {
    // 1. The repository as it is, and the .debs to add. Everything that can refuse runs before anything is written.
    const previous = readRelease(suiteDir);
    if (!previous && opts.debs.length === 0) throw new UsageError(`there is no repository at ${repoDir} (no dists/${suite}/Release) to sign again or prune`);
    const existing = readComponentIndex(suiteDir, component);
    const debs = await Promise.all(opts.debs.map((f) => readDeb(path.resolve(f))));
    const name = opts.name ?? previous?.origin ?? [...debs].sort((a, b) => a.package.length - b.package.length)[0]!.package;
    const now = Math.floor(Date.now() / 1000);
    const date = Math.max(opts.date ?? now, previous?.date ?? 0);
    const validUntil = date + validFor;

    // 2. The keys: the signing key must still sign at Valid-Until; the keyring carries the next ones too.
    const fingerprint = await signingFingerprint(gpgOpts);
    const warnings: string[] = [];
    const keys = await keyringKeys(gpgOpts, fingerprint, opts.nextKeys ?? [], { now, validUntil, warnings });
    const keyring = Buffer.concat(keys.map((k) => k.exported));
    const keyringDeb = await keyringPackage(scratch, {
      name,
      keyring,
      keys: keys.map((k) => k.key),
      maintainer: maintainerOf(name, debs, existing),
      published: [...existing.values()],
    });

    // 3. What is added, unchanged and pruned.
    const { added, unchanged } = await planAdditions(repoDir, component, [...debs, keyringDeb], existing);
    const described = (d: DebInfo): PublishedPackage => ({
      package: d.package,
      version: d.version,
      architecture: d.architecture,
      filename: poolPath(component, d),
    });
    let entries = [...existing.values(), ...added.map((d) => indexEntry(component, d))];
    const retention = opts.keep !== undefined ? planRetention(entries, name, opts.keep) : undefined;
    const prunedKeys = new Set(retention?.pruned.flatMap((p) => p.entries.map(entryKey)) ?? []);
    const prunedAtOnce = added.filter((d) => prunedKeys.has(entryKey(d)));
    if (prunedAtOnce.length) {
      throw new UsageError(
        `publish refused, nothing was changed: ${prunedAtOnce.map((d) => `${d.package} ${d.version}`).join(', ')} is older than the ${opts.keep} newest versions --keep keeps, so it would be pruned at once`,
      );
    }
    entries = entries.filter((e) => !prunedKeys.has(entryKey(e)));
    const signs = added.length > 0 || prunedKeys.size > 0 || Boolean(opts.resign);

    // 4. The new indexes and Release, and every file that changes.
    const writes: Array<{ rel: string; data?: string | Uint8Array; size: number; from?: string }> = [];
    const deletes: string[] = [];
    const put = (rel: string, data: string | Uint8Array) => writes.push({ rel, data, size: Buffer.byteLength(data) });
    const release = signs ? await releaseText({ name, suite, component, date, validUntil, previous, entries, suiteDir }) : undefined;
    if (release) {
      for (const d of added) writes.push({ rel: poolPath(component, d), from: d.file, size: d.size });
      for (const f of release.files.filter((x) => x.path.startsWith(`${component}/`))) {
        put(path.join('dists', suite, path.dirname(f.path), 'by-hash', 'SHA256', sha256(f.data)), f.data);
      }
      for (const f of release.files.filter((x) => x.path.startsWith(`${component}/`))) put(path.join('dists', suite, f.path), f.data);
      // Pruned pool files another suite or component still names stay.
      const named = poolFilesNamedElsewhere(repoDir, suite, component);
      for (const e of entries) named.add(field(e.paragraph, 'Filename') ?? '');
      for (const p of retention?.pruned ?? []) {
        for (const e of p.entries) {
          const f = field(e.paragraph, 'Filename');
          if (f && !named.has(f) && fs.existsSync(path.join(repoDir, f))) deletes.push(f);
        }
      }
      deletes.push(...staleByHash(suiteDir, component, release.files, previous).map((f) => path.relative(repoDir, f)));
    }
    const sizes = repoFileSizes(repoDir);
    const before = sum(sizes.values());
    const limit = opts.maxSize;
    const sizeAfter = (signatures: { inRelease: number; releaseGpg: number }) => {
      const after = new Map(sizes);
      for (const d of deletes) after.delete(d);
      for (const w of writes) after.set(w.rel, w.size);
      if (release) {
        after.set(path.join('dists', suite, 'Release'), Buffer.byteLength(release.text));
        after.set(path.join('dists', suite, 'InRelease'), signatures.inRelease);
        after.set(path.join('dists', suite, 'Release.gpg'), signatures.releaseGpg);
      }
      after.set(keyringFileName(name), keyring.length);
      after.set(`${name}.sources`, Buffer.byteLength(renderSources({ name, uri: opts.sourcesUri, suite, component })));
      return { before, after: sum(after.values()), limit, files: after.size };
    };
    // Estimated until signed: a signature's size is the same from one signing to the next.
    const sigEstimate = (f: string, extra: number) => sizes.get(path.join('dists', suite, f)) ?? extra;
    const releaseBytes = release ? Buffer.byteLength(release.text) : 0;
    const plan: PublishPlan = {
      dryRun,
      name,
      suite,
      component,
      fingerprint,
      keys: keys.map((k) => k.key),
      added: added.map(described),
      unchanged: unchanged.map(described),
      pruned: (retention?.pruned ?? []).map((p) => ({ version: p.version, packages: p.entries.map(describedEntry) })),
      kept: retention?.kept,
      signs,
      date,
      validUntil,
      size: sizeAfter({ inRelease: releaseBytes + sigEstimate('Release.gpg', 1024), releaseGpg: sigEstimate('Release.gpg', 1024) }),
      warnings,
    };
    const result = (indexesWritten: boolean): PublishResult => ({
      ...plan,
      indexesWritten,
      ...paths,
      keyring: path.join(repoDir, keyringFileName(name)),
      sources: path.join(repoDir, `${name}.sources`),
    });
    const refuseSize = () => {
      if (limit !== undefined && plan.size.after > limit && added.length > 0) {
        throw new UsageError(
          `publish refused, nothing was changed: the repository would grow to ${plan.size.after} bytes, over --max-size ${limit} ` +
            `(it is ${before} bytes now). Prune old releases with --keep N, or raise the limit if where it is served allows more.`,
        );
      }
    };
    refuseSize();
    if (dryRun) return result(false);

    const sources = renderSources({ name, uri: opts.sourcesUri, suite, component });
    if (!release) {
      writeAll([
        [path.join(repoDir, keyringFileName(name)), keyring],
        [path.join(repoDir, `${name}.sources`), sources],
      ]);
      log('nothing new to publish; indexes left as they were');
      return result(false);
    }

    // 5. Sign, and check both signatures as apt will, against the exported keyring alone.
    const inRelease = await clearsign(gpgOpts, fingerprint, release.text);
    const releaseGpg = await detachSign(gpgOpts, fingerprint, release.text);
    await verifySignatures(keyring, inRelease, release.text, releaseGpg);
    plan.size = sizeAfter({ inRelease: Buffer.byteLength(inRelease), releaseGpg: Buffer.byteLength(releaseGpg) });
    refuseSize();

    // 6. The pool: new files only, never an overwrite (planAdditions refused those). After
    // signing, so a key that fails leaves no unindexed file behind.
    for (const w of writes.filter((x) => x.from)) {
      const dest = path.join(repoDir, w.rel);
      if (fs.existsSync(dest)) continue; // an identical file left by an interrupted publish
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      const tmp = tempNameFor(dest);
      fs.copyFileSync(w.from!, tmp);
      fs.renameSync(tmp, dest);
    }
    // 7. The indexes, in the order that keeps every state a reader can see consistent; then what went.
    writeAll([
      ...writes.filter((x) => x.data !== undefined).map((w): [string, string | Uint8Array] => [path.join(repoDir, w.rel), w.data!]),
      [paths.release, release.text],
      [path.join(suiteDir, 'Release.gpg'), releaseGpg],
      [paths.inRelease, inRelease],
      [path.join(repoDir, keyringFileName(name)), keyring],
      [path.join(repoDir, `${name}.sources`), sources],
    ]);
    for (const d of deletes) fs.rmSync(path.join(repoDir, d), { force: true });
    log(`signed dists/${suite}/InRelease with ${fingerprint}; ${entries.length} package versions in ${component}`);
    return result(true);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
    unlock();
  }
}

/**
 * The signing key, checked against Valid-Until, and the next keys, each with its binary export.
 * A key that never expires is refused: a stolen copy would sign for anyone, for ever.
 */
async function keyringKeys(
  gpgOpts: GpgOptions,
  fingerprint: string,
  nextFiles: string[],
  o: { now: number; validUntil: number; warnings: string[] },
): Promise<Array<{ key: KeyringKey; exported: Buffer }>> {
  const signing = await describeKey(gpgOpts, fingerprint);
  const when = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');
  if (signing.expires === undefined) {
    throw new UsageError(
      `the signing key ${fingerprint} never expires: give it an expiry (gpg --quick-set-expire ${fingerprint} 2y), ` +
        'export it again into the signing key\'s variable, and keep rotating it (docs/release-ci.md, "Rotating the signing key")',
    );
  }
  if (signing.expires < o.validUntil) {
    throw new UsageError(
      `the signing key ${fingerprint} expires at ${when(signing.expires)}, before this Release's Valid-Until ${when(o.validUntil)}: ` +
        'apt would refuse the repository then. Extend its expiry (gpg --quick-set-expire) or rotate to the next key (docs/release-ci.md, "Rotating the signing key")',
    );
  }
  if (signing.expires < o.validUntil + ROTATE_WARNING) {
    o.warnings.push(`the signing key ${fingerprint} expires at ${when(signing.expires)}: publish the next key (--next-key) now and rotate before then`);
  }
  const next = await readPublicKeys(nextFiles);
  for (const n of next) {
    if (n.key.fingerprint === fingerprint) throw new UsageError(`--next-key ${n.file}: ${fingerprint} is the signing key itself, not a next key`);
    if (n.key.expires !== undefined && n.key.expires <= o.now)
      throw new UsageError(`--next-key ${n.file}: ${n.key.fingerprint} expired at ${when(n.key.expires)}`);
  }
  return [
    { key: { ...signing, role: 'signs' }, exported: await exportPublicKey(gpgOpts, fingerprint) },
    ...next.map((n) => ({ key: { ...n.key, role: 'next' as const }, exported: n.exported })),
  ];
}

/**
 * The Maintainer the keyring package carries: the one it was published with (so that a release
 * with another Maintainer does not make the same keys a new version), else the host package's.
 */
function maintainerOf(name: string, debs: DebInfo[], existing: Map<string, IndexEntry>): string {
  const fromDebs = (ds: DebInfo[]) => ds.map((d) => field(d.control, 'Maintainer')).find(Boolean);
  const fromIndex = (es: IndexEntry[]) => es.map((e) => field(e.paragraph, 'Maintainer')).find(Boolean);
  const published = [...existing.values()];
  return (
    fromIndex(published.filter((e) => e.package === keyringPackageName(name))) ??
    fromDebs(debs.filter((d) => d.package === name)) ??
    fromIndex(published.filter((e) => e.package === name)) ??
    fromDebs(debs) ??
    fromIndex(published) ??
    `${name} <root@localhost>`
  );
}

async function releaseText(o: {
  name: string;
  suite: string;
  component: string;
  date: number;
  validUntil: number;
  previous: PreviousRelease | undefined;
  entries: IndexEntry[];
  suiteDir: string;
}): Promise<{ text: string; files: ReleaseFile[] }> {
  const arches = [...new Set([...(o.previous?.architectures ?? []), ...o.entries.map((e) => e.architecture).filter((a) => a !== 'all')])].sort();
  if (arches.length === 0) arches.push((await execa('dpkg', ['--print-architecture'])).stdout.trim());
  const files: ReleaseFile[] = [];
  for (const arch of arches) {
    const text = renderPackages(o.entries, arch);
    const { gz, xz } = await compressIndex(text);
    const dir = `${o.component}/binary-${arch}`;
    files.push({ path: `${dir}/Packages`, data: Buffer.from(text) }, { path: `${dir}/Packages.gz`, data: gz }, { path: `${dir}/Packages.xz`, data: xz });
  }
  const components = new Set([o.component]);
  for (const other of otherComponentIndexes(o.suiteDir, o.component)) {
    files.push(other.file);
    components.add(other.component);
  }
  const text = renderRelease(
    {
      origin: o.name,
      label: o.name,
      suite: o.suite,
      codename: o.suite,
      date: o.date,
      validUntil: o.validUntil,
      architectures: arches,
      components: [...components].sort(),
      description: `${o.name} packages`,
    },
    files,
  );
  return { text, files };
}

/** Index copies under by-hash/ that neither the new Release nor the previous one names. */
function staleByHash(suiteDir: string, component: string, files: ReleaseFile[], previous: PreviousRelease | undefined): string[] {
  const wanted = new Set([...files.map((f) => sha256(f.data)), ...(previous?.indexHashes ?? [])]);
  const stale: string[] = [];
  const compDir = path.join(suiteDir, component);
  if (!fs.existsSync(compDir)) return stale;
  for (const sub of fs.readdirSync(compDir).filter((s) => s.startsWith('binary-'))) {
    const dir = path.join(compDir, sub, 'by-hash', 'SHA256');
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) if (!wanted.has(f) && !f.startsWith('.')) stale.push(path.join(dir, f));
  }
  return stale;
}

function indexEntry(component: string, d: DebInfo): IndexEntry {
  const paragraph: Paragraph = [...d.control, ['Filename', poolPath(component, d)], ['Size', String(d.size)], ['MD5sum', d.md5], ['SHA256', d.sha256]];
  return { package: d.package, version: d.version, architecture: d.architecture, sha256: d.sha256, paragraph };
}

function describedEntry(e: IndexEntry): PublishedPackage {
  return { package: e.package, version: e.version, architecture: e.architecture, filename: field(e.paragraph, 'Filename') ?? '' };
}

/** Sorts the given .debs into new and already-published ones; refuses any conflict, all listed at once. */
async function planAdditions(
  repoDir: string,
  component: string,
  debs: DebInfo[],
  existing: Map<string, IndexEntry>,
): Promise<{ added: DebInfo[]; unchanged: DebInfo[] }> {
  const added = new Map<string, DebInfo>();
  const unchanged: DebInfo[] = [];
  const conflicts: string[] = [];
  for (const d of debs) {
    const key = entryKey(d);
    const known = existing.get(key);
    const sameBatch = added.get(key);
    if (known) {
      if (known.sha256 === d.sha256) unchanged.push(d);
      else
        conflicts.push(
          `${d.file}: ${d.package} ${d.version} (${d.architecture}) is already published with different content (sha256 ${known.sha256.slice(0, 16)}…, this file ${d.sha256.slice(0, 16)}…). Published versions are immutable: build a new version.`,
        );
    } else if (sameBatch) {
      if (sameBatch.sha256 !== d.sha256)
        conflicts.push(`${d.file}: ${d.package} ${d.version} (${d.architecture}) is given twice with different content (also ${sameBatch.file})`);
    } else {
      const pooled = path.join(repoDir, poolPath(component, d));
      if (fs.existsSync(pooled) && (await hashFile(pooled)).sha256 !== d.sha256) {
        conflicts.push(
          `${d.file}: ${poolPath(component, d)} already exists with different content (published to another suite?). Published versions are immutable: build a new version.`,
        );
      } else {
        added.set(key, d);
      }
    }
  }
  if (conflicts.length) throw new UsageError(`publish refused, nothing was changed:\n${conflicts.join('\n')}`);
  return { added: [...added.values()], unchanged };
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

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const sum = (xs: Iterable<number>) => [...xs].reduce((a, b) => a + b, 0);

/** One publisher per repository at a time; a second waits up to a minute. A dead owner's lock is stale. */
function lockRepo(repoDir: string, log: PublishLog): Promise<() => void> {
  const file = path.join(repoDir, '.publish.lock');
  return acquirePidLock(file, {
    timeoutMs: 60_000,
    pollMs: 250,
    onWait: (owner) => log(`waiting for another publish (pid ${owner}) to finish`),
    onTimeout: (owner) => new UsageError(`${repoDir} is locked by another publish (pid ${owner}); remove ${file} if that process is gone`),
  });
}
