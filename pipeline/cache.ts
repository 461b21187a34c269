// The stage cache: one entry per (stage, key), holding the stage's output tree as a tar.zst and an
// entry.json with the key's manifest and the archive's sha256. Entries are written under a
// temporary name and renamed into place, so an interrupted build never leaves a half entry; a
// digest mismatch on restore (a flipped byte, a truncated file) drops the entry and rebuilds.
// A per-key lock lets two builds share one cache directory: the second waits, then reuses.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ToolRunner } from './util/exec.ts';
import { fileSha256 } from './util/tree-digest.ts';
import { acquirePidLock } from './util/pid-lock.ts';

export type CacheStatus = 'hit' | 'miss' | 'off' | 'n/a';

export interface CacheEntry {
  stage: string;
  key: string;
  manifest: unknown;
  archive: string;
  sha256: string;
  size: number;
  createdBy: string;
}

export class Cache {
  readonly dir: string;
  readonly enabled: boolean;
  constructor(dir: string, enabled: boolean) {
    this.dir = dir;
    this.enabled = enabled;
  }

  private entryDir(stage: string, key: string): string {
    return path.join(this.dir, stage, key);
  }

  status(stage: string, key: string, cacheable: boolean): CacheStatus {
    if (!cacheable) return 'n/a';
    if (!this.enabled) return 'off';
    return fs.existsSync(path.join(this.entryDir(stage, key), 'entry.json')) ? 'hit' : 'miss';
  }

  /**
   * Unpack an entry into dest. Returns false (and removes the entry) when it is missing or
   * corrupt, so the caller rebuilds; the reason goes to `warn`.
   */
  async restore(stage: string, key: string, dest: string, tools: ToolRunner, warn: (t: string) => void): Promise<boolean> {
    const dir = this.entryDir(stage, key);
    let entry: CacheEntry;
    try {
      entry = JSON.parse(fs.readFileSync(path.join(dir, 'entry.json'), 'utf8')) as CacheEntry;
    } catch {
      if (fs.existsSync(dir)) this.drop(stage, key, 'entry.json unreadable', warn);
      return false;
    }
    const archive = path.join(dir, entry.archive);
    const actual = fs.existsSync(archive) ? fileSha256(archive) : 'missing';
    if (actual !== entry.sha256) {
      this.drop(stage, key, `archive digest ${actual.slice(0, 12)} does not match ${entry.sha256.slice(0, 12)}`, warn);
      return false;
    }
    fs.mkdirSync(dest, { recursive: true });
    await tools.run('tar', ['--zstd', '-xpf', archive, '-C', dest, '--numeric-owner', '--xattrs', '--xattrs-include=*']);
    return true;
  }

  async store(stage: string, key: string, tree: string, manifest: unknown, tools: ToolRunner): Promise<void> {
    if (!this.enabled) return;
    const final = this.entryDir(stage, key);
    const tmp = path.join(this.dir, stage, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    fs.mkdirSync(tmp, { recursive: true });
    try {
      const archive = path.join(tmp, 'tree.tar.zst');
      // Level 3 with all cores: the cache is read back within minutes, so speed beats size here.
      await tools.run('tar', ['-I', 'zstd -T0 -3', '-cpf', archive, '-C', tree, '--numeric-owner', '--xattrs', '--xattrs-include=*', '.']);
      const entry: CacheEntry = {
        stage,
        key,
        manifest,
        archive: 'tree.tar.zst',
        sha256: fileSha256(archive),
        size: fs.statSync(archive).size,
        createdBy: `pid ${process.pid}`,
      };
      fs.writeFileSync(path.join(tmp, 'entry.json'), JSON.stringify(entry, null, 2));
      fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  private drop(stage: string, key: string, why: string, warn: (t: string) => void): void {
    warn(`cache entry ${stage}/${key.slice(0, 12)} is corrupt (${why}); rebuilding it`);
    fs.rmSync(this.entryDir(stage, key), { recursive: true, force: true });
  }

  /**
   * Hold a lock on one key while building it, so that a concurrent build with the same cache
   * waits and then reuses the entry instead of building it twice. A lock whose owner died is stale.
   */
  async lock(stage: string, key: string, onWait: (owner: string) => void, signal: AbortSignal): Promise<() => void> {
    if (!this.enabled) return () => {};
    fs.mkdirSync(path.join(this.dir, stage), { recursive: true });
    return acquirePidLock(path.join(this.dir, stage, `${key}.lock`), { onWait: (pid) => onWait(`pid ${pid}`), signal });
  }
}

export function keyOf(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}
