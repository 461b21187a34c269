// Where the benchmarks read and write: the repository, the committed results, and a scratch area
// for trees, caches and artifacts (large, never committed; EB_BENCH_WORK overrides it).
import fs from 'node:fs';
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '../..');
export const RESULTS_DIR = path.join(REPO, 'bench/results');
export const WORK = process.env.EB_BENCH_WORK ?? '/var/tmp/eb-bench';

/** A fresh, empty directory under the scratch area. */
export function freshDir(name: string): string {
  const dir = path.join(WORK, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The stage cache the warm builds share (kept between runs, like a developer's own cache). */
export const BENCH_CACHE = path.join(WORK, 'cache');
