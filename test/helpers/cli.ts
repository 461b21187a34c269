// Running the real CLI from tests, and a memoized verified build of recipes/minimal.ts that test
// files share through the test cache (the first file pays for the bootstrap, later ones hit).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type Options } from 'execa';
import { CLI, REPO, TEST_CACHE } from './paths.ts';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], opts: Options = {}): Promise<CliResult> {
  const r = await execa(process.execPath, [CLI, ...args], { cwd: REPO, reject: false, env: { CI: '1', ...opts.env }, ...opts, stdin: 'ignore' });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `eb-${prefix}-`));
}

/** Build recipes/minimal.ts up to verify into a fresh directory; returns the rootfs and digest. */
export async function buildVerified(
  recipe = 'recipes/minimal.ts',
  extra: string[] = [],
): Promise<{ out: string; rootfs: string; digest: string; result: CliResult }> {
  const out = tempDir('out');
  const result = await runCli(['build', recipe, '--stop-after', 'verify', '--out', out, '--cache-dir', TEST_CACHE, ...extra]);
  if (result.exitCode !== 0) throw new Error(`build failed (${result.exitCode}):\n${result.stderr}`);
  const digest = /^tree digest: ([0-9a-f]{64})$/m.exec(result.stdout)?.[1] ?? '';
  return { out, rootfs: path.join(out, 'rootfs'), digest, result };
}
