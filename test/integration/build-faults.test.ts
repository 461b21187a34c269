// Build faults, with what each must leave behind: Ctrl-C at each stage exits 130 (SIGTERM, as a
// CI runner stops a job, 143 after the same cleanup) with nothing partial in OUT, no mount, no
// process and no poisoned cache; a full output or cache filesystem
// gives a clear error and no half-written output; two builds sharing a cache both succeed.
import fs from 'node:fs';
import path from 'node:path';
import { execa, execaSync, type ResultPromise } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { CLI, REPO, TEST_CACHE } from '../helpers/paths.ts';
import { describeWith } from '../helpers/env.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { mountsBelow } from '../../pipeline/util/mounts.ts';

describeWith({ root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'mount'] }, 'build faults', () => {
  const tmp = tempDir('faults');
  const mounted: string[] = [];
  afterAll(async () => {
    for (const m of mounted) await execa('umount', [m], { reject: false });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function start(args: string[]): { child: ResultPromise; stderr: () => string } {
    const child = execa(process.execPath, [CLI, 'build', 'recipes/minimal.ts', ...args], { cwd: REPO, reject: false, env: { CI: '1' }, stdin: 'ignore' });
    let err = '';
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
    });
    return { child, stderr: () => err };
  }

  async function waitFor(get: () => string, pattern: RegExp, timeoutMs = 300_000): Promise<void> {
    const t0 = Date.now();
    while (!pattern.test(get())) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${pattern} in:\n${get()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Nothing of the build is left: no partial output, no scratch tree, no mount, no process of its group. */
  function expectClean(out: string, cache: string, pid: number): void {
    const leftovers = fs.existsSync(out) ? fs.readdirSync(out) : [];
    expect(leftovers.filter((f) => f.startsWith('.') || f === 'rootfs')).toEqual([]);
    expect(fs.existsSync(path.join(cache, 'tmp')) ? fs.readdirSync(path.join(cache, 'tmp')) : []).toEqual([]);
    expect(mountsBelow(cache)).toEqual([]);
    const locks = fs.existsSync(path.join(cache, 'bootstrap'))
      ? fs.readdirSync(path.join(cache, 'bootstrap')).filter((f) => f.endsWith('.lock') || f.startsWith('.tmp'))
      : [];
    expect(locks).toEqual([]);
    const survivors = execaSync('pgrep', ['-s', String(pid)], { reject: false }).stdout;
    expect(survivors).toBe('');
  }

  const cache = path.join(tmp, 'cache');

  it('Ctrl-C during a cold bootstrap (mmdebstrap running)', async () => {
    const out = path.join(tmp, 'out-bootstrap');
    const run = start(['--out', out, '--cache-dir', cache, '--stop-after', 'verify']);
    await waitFor(run.stderr, /bootstrap: mmdebstrap trixie/);
    await new Promise((r) => setTimeout(r, 8000)); // well into downloading and unpacking
    run.child.kill('SIGINT');
    const r = await run.child;
    expect(r.exitCode).toBe(130);
    expect(run.stderr()).toContain('interrupted (SIGINT): stopped and cleaned up');
    expectClean(out, cache, run.child.pid as number);
    expect(fs.readdirSync(path.join(cache, 'bootstrap')).filter((f) => !f.startsWith('.'))).toEqual([]);
  });

  it('the cache is not poisoned: the next build succeeds', async () => {
    const r = await runCli(['build', 'recipes/minimal.ts', '--stop-after', 'verify', '--out', path.join(tmp, 'out-ok'), '--cache-dir', cache]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/bootstrap: start \(cache miss\)/);
  });

  for (const [stage, marker, signal, code] of [
    ['bootstrap (restoring from cache)', /bootstrap: start \(cache hit\)/, 'SIGINT', 130],
    ['verify (nspawn session)', /verify: sshd -t/, 'SIGTERM', 143],
  ] as const) {
    it(`${signal} during ${stage}`, async () => {
      const out = path.join(tmp, `out-${stage.split(' ')[0]}`);
      const run = start(['--out', out, '--cache-dir', cache, '--stop-after', 'verify']);
      await waitFor(run.stderr, marker);
      run.child.kill(signal);
      const r = await run.child;
      expect(r.exitCode).toBe(code);
      expect(run.stderr()).toContain(`interrupted (${signal}): stopped and cleaned up`);
      expectClean(out, cache, run.child.pid as number);
      const again = await runCli(['build', 'recipes/minimal.ts', '--dry-run', '--cache-dir', cache]);
      expect(again.stdout).toMatch(/^bootstrap\t[0-9a-f]{64}\thit$/m);
    });
  }

  it('a full output filesystem: a clear error, exit 1, and no half-copied tree', async () => {
    const out = path.join(tmp, 'small-out');
    fs.mkdirSync(out);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=40M', 'eb-test-out', out]);
    mounted.push(out);
    const r = await runCli(['build', 'recipes/minimal.ts', '--stop-after', 'verify', '--out', out, '--cache-dir', TEST_CACHE]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`error: stage verify failed: cannot copy the tree to ${out}/rootfs: no space left on device`);
    expect(r.stderr).toContain('hint: free space on the output filesystem, or choose another --out');
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('a full cache filesystem: a clear error, exit 1, nothing cached', async () => {
    const small = path.join(tmp, 'small-cache');
    fs.mkdirSync(small);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=60M', 'eb-test-cache', small]);
    mounted.push(small);
    const r = await runCli(['build', 'recipes/minimal.ts', '--stop-after', 'verify', '--out', path.join(tmp, 'out-full'), '--cache-dir', small]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/error: stage bootstrap failed: mmdebstrap failed/);
    expect(r.stderr).toContain('hint: free disk space, or point --out / --cache-dir at a larger filesystem');
    expect(fs.readdirSync(path.join(small, 'tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(small, 'bootstrap')).filter((f) => !f.startsWith('.'))).toEqual([]);
    expect(mountsBelow(small).filter((m) => m !== small)).toEqual([]); // only the test's own tmpfs
  });

  it('two builds at once with one cache: one bootstraps, the other waits and reuses it', async () => {
    const shared = path.join(tmp, 'shared-cache');
    const a = start(['--out', path.join(tmp, 'out-a'), '--cache-dir', shared, '--stop-after', 'verify']);
    await waitFor(a.stderr, /bootstrap: start/);
    const b = start(['--out', path.join(tmp, 'out-b'), '--cache-dir', shared, '--stop-after', 'verify']);
    const [ra, rb] = await Promise.all([a.child, b.child]);
    expect(ra.exitCode).toBe(0);
    expect(rb.exitCode).toBe(0);
    expect(b.stderr()).toMatch(/bootstrap: waiting for pid \d+, which is building the same cache entry/);
    expect(b.stderr()).toMatch(/bootstrap: cached in/);
    const digest = (s: string) => /^tree digest: (\w+)$/m.exec(s)?.[1];
    expect(digest(String(rb.stdout))).toBe(digest(String(ra.stdout)));
  });
});
