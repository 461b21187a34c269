// Paths shared by tests: the repository root, the CLI, and a cache reused across runs (git-ignored)
// so that a bootstrap made by one test file is a cache hit for the next.
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(REPO, 'pipeline/cli.ts');
export const TEST_CACHE = process.env.EB_TEST_CACHE ?? path.join(REPO, '.cache/test');
