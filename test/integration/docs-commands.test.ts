// Every shell block marked `sh tested` in README.md and docs/**/*.md runs here, from the
// repository root, with `bash -eo pipefail`, and must exit 0: the commands the docs show are the
// commands that work. Commands that need a real host stay unmarked (see pipeline/docs/tested-blocks.ts).
// The default cache (~/.cache/ephemeral-builder) is pointed at the shared test cache, so a
// documented `build --dry-run` reuses the mirror indexes other tests fetched.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { findTestedBlocks } from '../../pipeline/docs/tested-blocks.ts';
import { tempDir } from '../helpers/cli.ts';
import { REPO, TEST_CACHE } from '../helpers/paths.ts';

const blocks = findTestedBlocks(REPO);
const xdg = tempDir('docs-xdg');
fs.symlinkSync(TEST_CACHE, path.join(xdg, 'ephemeral-builder'));

describe('commands shown in the docs', () => {
  afterAll(() => fs.rmSync(xdg, { recursive: true, force: true }));

  it('the docs mark their runnable commands as tested (README and docs/)', () => {
    // A floor, so that losing the marks (a renamed info string) cannot make this file pass vacuously.
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    expect(new Set(blocks.map((b) => b.file)).size).toBeGreaterThanOrEqual(3);
  });

  for (const block of blocks) {
    const first = block.code.split('\n').find((l) => l.trim() && !l.trim().startsWith('#')) ?? '';
    it(`${block.file}:${block.line}: ${first.trim()}`, async () => {
      const r = await execa('bash', ['-eo', 'pipefail', '-c', block.code], {
        cwd: REPO,
        reject: false,
        stdin: 'ignore',
        all: true,
        timeout: 5 * 60_000,
        env: { CI: '1', XDG_CACHE_HOME: xdg },
      });
      expect(r.exitCode, `${block.file}:${block.line} failed (exit ${r.exitCode}):\n${block.code}\n--- output ---\n${String(r.all).slice(-4000)}`).toBe(0);
    });
  }
});
