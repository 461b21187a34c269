// A real build of recipes/minimal.ts (mmdebstrap, overlays, nspawn + ssh verify) and what it
// promises: the image layout and the cache (hit, corrupt entry rebuilt). Reproducibility (a
// --no-cache rebuild gives the same bytes) is checked on recipes/company.ts, which has every
// kind of input a recipe can have (build-company.test.ts).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/env.ts';
import { buildVerified, runCli, tempDir } from '../helpers/cli.ts';
import { TEST_CACHE } from '../helpers/paths.ts';

describeWith({ root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'ssh'] }, 'build recipes/minimal.ts', () => {
  let first: Awaited<ReturnType<typeof buildVerified>>;
  const dirs: string[] = [];
  beforeAll(async () => {
    first = await buildVerified();
    dirs.push(first.out);
  });
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('leaves a verified tree with the image layout at OUT/rootfs', () => {
    const root = first.rootfs;
    const passwd = fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8');
    expect(passwd).toMatch(/^builder:x:9000:9000::\/home\/builder:\/bin\/bash$/m);
    expect(fs.readdirSync(path.join(root, 'home/builder'))).toEqual([]);
    expect(fs.statSync(path.join(root, 'home/builder.template')).uid).toBe(9000);
    expect(fs.readdirSync(path.join(root, 'etc/ssh')).filter((f) => f.startsWith('ssh_host_'))).toEqual([]);
    expect(fs.readFileSync(path.join(root, 'etc/machine-id'), 'utf8')).toBe('');
    expect(fs.readdirSync(path.join(root, 'etc/ssh/ephemeral'))).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'var/lib/apt/lists'))).toEqual([]);
    expect(fs.statSync(path.join(root, 'usr/lib/ephemeral-builder/container-init')).mode & 0o111).toBeTruthy();
    expect(fs.readFileSync(path.join(root, 'home/builder.template/.bash_logout'), 'utf8')).not.toMatch(/^\s*\[ -x \/usr\/bin\/clear_console/m);
    expect(first.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('clamps every mtime to SOURCE_DATE_EPOCH', async () => {
    const plan = await runCli(['build', 'recipes/minimal.ts', '--dry-run', '--json', '--cache-dir', TEST_CACHE]);
    const epoch = JSON.parse(plan.stdout.split('\n')[0] as string).plan.stages[0].manifest.inputs.sourceDateEpoch as number;
    const newer: string[] = [];
    const walk = (dir: string) => {
      for (const name of fs.readdirSync(dir)) {
        const p = path.join(dir, name);
        const st = fs.lstatSync(p);
        if (st.mtimeMs / 1000 > epoch) newer.push(p);
        if (st.isDirectory()) walk(p);
      }
    };
    walk(first.rootfs);
    expect(newer).toEqual([]);
  });

  it('plans a cache hit for the bootstrap once it is built', async () => {
    const r = await runCli(['build', 'recipes/minimal.ts', '--dry-run', '--cache-dir', TEST_CACHE]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^bootstrap\t[0-9a-f]{64}\thit$/m);
  });

  it('detects a corrupt cache entry, rebuilds it, and still gives the same tree', async () => {
    const entries = path.join(TEST_CACHE, 'bootstrap');
    const plan = await runCli(['build', 'recipes/minimal.ts', '--dry-run', '--json', '--cache-dir', TEST_CACHE]);
    const key = JSON.parse(plan.stdout.split('\n')[0] as string).plan.stages[0].key as string;
    const archive = path.join(entries, key, 'tree.tar.zst');
    const fd = fs.openSync(archive, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, 4096);
    fs.writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, 4096);
    fs.closeSync(fd);
    const again = await buildVerified();
    dirs.push(again.out);
    expect(again.result.stderr).toMatch(/cache entry bootstrap\/[0-9a-f]{12} is corrupt \(archive digest/);
    expect(again.digest).toBe(first.digest);
    const after = await runCli(['build', 'recipes/minimal.ts', '--dry-run', '--cache-dir', TEST_CACHE]);
    expect(after.stdout).toMatch(/^bootstrap\t[0-9a-f]{64}\thit$/m);
  });

  it('reports the result as JSON lines with --json', async () => {
    const out = tempDir('json');
    dirs.push(out);
    const r = await runCli(['build', 'recipes/minimal.ts', '--stop-after', 'overlays', '--json', '--out', out, '--cache-dir', TEST_CACHE]);
    expect(r.exitCode).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; result?: { rootfs: string } });
    expect(events[0]?.event).toBe('plan');
    expect(events.filter((e) => e.event === 'stage-end').map((e) => e as unknown as { stage: string; outcome: string })).toEqual([
      expect.objectContaining({ stage: 'bootstrap', outcome: 'cached' }),
      expect.objectContaining({ stage: 'steps', outcome: 'skipped' }),
      expect.objectContaining({ stage: 'overlays', outcome: 'built' }),
    ]);
    expect(events.at(-1)?.result?.rootfs).toBe(path.join(out, 'rootfs'));
  });
});
