// The pack stage end to end on a small tree with fixture host files: the six artifacts appear in
// OUT together (no temporaries left, nothing on failure), SHA256SUMS passes `sha256sum -c`, the
// manifest says what was built, the tarball holds exactly both packages' files, and two runs give
// byte-identical artifacts.
import { execaSync } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RecipeError } from '../../pipeline/errors.ts';
import { stableJson } from '../../pipeline/pack/manifest.ts';
import type { VerifiedTree } from '../../pipeline/stage.ts';
import { packStage, type Artifacts, type PackInput } from '../../pipeline/stages/pack.ts';
import type { Plan } from '../../pipeline/ui/reporter.ts';
import { describeWith } from '../helpers/env.ts';
import { fixtureCtx, fixtureHostFiles, fixtureResolvedRecipe, makeFixtureTree, SDE, tempDir } from './pack-fixture.ts';

const PLAN: Plan = {
  recipe: { name: 'ebtest', version: '1.4.0-rc.1', suite: 'trixie', file: '/somewhere/recipe.ts', digest: 'a'.repeat(64) },
  sources: [],
  stages: [
    { stage: 'bootstrap', title: 'b', key: '1'.repeat(64), cache: 'hit' as never, manifest: {} },
    { stage: 'pack', title: 'p', key: '2'.repeat(64), cache: 'miss' as never, manifest: {} },
  ],
};

let work: string;
let tree: VerifiedTree;
let first: Artifacts;
const recipe = fixtureResolvedRecipe();

function input(outDir: string, extra: Partial<PackInput> = {}): PackInput {
  return { tree, outDir, fast: false, plan: PLAN, hostFiles: fixtureHostFiles(), ...extra };
}

beforeAll(() => {
  work = tempDir('pack-stage');
  const rootfs = path.join(work, 'rootfs');
  makeFixtureTree(rootfs);
  tree = {
    rootfs,
    treeDigest: 'c'.repeat(64),
    sizeBytes: 3_200_000,
    fileCount: 30,
    packages: [
      { name: 'openssh-server', version: '1:10.0p1-7', architecture: 'amd64', source: 'openssh', sourceVersion: '1:10.0p1-7' },
      { name: 'bash', version: '5.2.37-2', architecture: 'amd64', source: 'bash', sourceVersion: '5.2.37-2' },
    ],
  };
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describeWith({ root: true, tools: ['dpkg-deb', 'xz', 'zstd', 'tar', 'sha256sum', 'getfattr'] }, 'pack stage', () => {
  const progress: string[] = [];
  beforeAll(async () => {
    await packStage.verify(recipe);
    first = await packStage.run(input(path.join(work, 'out1')), fixtureCtx(recipe, work, progress));
  });

  it('leaves exactly the seven artifacts in OUT', () => {
    expect(fs.readdirSync(path.join(work, 'out1')).sort()).toEqual([
      'SHA256SUMS',
      'ebtest-1.4.0-rc.1-amd64.cdx.json',
      'ebtest-1.4.0-rc.1-amd64.tar.zst',
      'ebtest-image-1.4.0-rc.1_1.4.0~rc.1_amd64.deb',
      'ebtest_1.4.0~rc.1_amd64.deb',
      'install.sh',
      'manifest.json',
    ]);
    expect(first.debianVersion).toBe('1.4.0~rc.1');
    expect(fs.statSync(first.installSh).mode & 0o777).toBe(0o755);
    expect(progress.length).toBeGreaterThan(0);
  });

  it('writes SHA256SUMS that sha256sum -c accepts, covering every other file', () => {
    const out = path.join(work, 'out1');
    expect(execaSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: out }).exitCode).toBe(0);
    const listed = fs
      .readFileSync(first.sha256sums, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.slice(66));
    expect(listed).toEqual(
      fs
        .readdirSync(out)
        .filter((f) => f !== 'SHA256SUMS')
        .sort(),
    );
  });

  it('records the recipe, tree, packages, artifact sizes and stage keys in manifest.json', () => {
    const text = fs.readFileSync(first.manifest, 'utf8');
    const m = JSON.parse(text);
    expect(text).toBe(stableJson(m));
    expect(m.recipe.digest).toBe('a'.repeat(64));
    expect(m.image.treeDigest).toBe('c'.repeat(64));
    expect(m.image.packages.map((p: { name: string }) => p.name)).toEqual(['bash', 'openssh-server']);
    expect(m.stages).toEqual([
      { stage: 'bootstrap', key: '1'.repeat(64) },
      { stage: 'pack', key: '2'.repeat(64) },
    ]);
    expect(m.artifacts.map((a: { file: string }) => a.file)).toEqual([
      'ebtest-1.4.0-rc.1-amd64.cdx.json',
      'ebtest-1.4.0-rc.1-amd64.tar.zst',
      'ebtest-image-1.4.0-rc.1_1.4.0~rc.1_amd64.deb',
      'ebtest_1.4.0~rc.1_amd64.deb',
      'install.sh',
    ]);
    for (const a of m.artifacts) expect(a.bytes).toBe(fs.statSync(path.join(work, 'out1', a.file)).size);
    expect(text).not.toContain('/somewhere');
    expect(m.sourceDateEpoch).toBe(SDE);
  });

  it('puts exactly the files of both packages in the tarball, which GNU tar and zstd read', () => {
    expect(execaSync('zstd', ['-t', '-q', first.tarball]).exitCode).toBe(0);
    const list = (args: string[]) =>
      execaSync('sh', ['-c', args.join(' ')])
        .stdout.split('\n')
        .filter(Boolean);
    const inTarball = list(['tar', '--zstd', '-tf', `'${first.tarball}'`]);
    const inDebs = new Set([
      ...list(['dpkg-deb', '--fsys-tarfile', `'${first.imageDeb}'`, '|', 'tar', '-tf', '-']),
      ...list(['dpkg-deb', '--fsys-tarfile', `'${first.hostDeb}'`, '|', 'tar', '-tf', '-']),
    ]);
    expect(inTarball.length).toBe(new Set(inTarball).size);
    expect(new Set(inTarball)).toEqual(inDebs);
    expect(inTarball).toContain('./usr/sbin/ebtestctl');
    expect(inTarball).toContain('./usr/lib/ebtest/images/1.4.0-rc.1/usr/bin/su');
    // The image carries its own SBOM, byte for byte the artifact.
    const inImage = execaSync('sh', [
      '-c',
      `tar --zstd -xOf '${first.tarball}' ./usr/lib/ebtest/images/1.4.0-rc.1/usr/share/ephemeral-builder/sbom.cdx.json`,
    ]).stdout;
    expect(`${inImage}\n`).toBe(fs.readFileSync(first.sbom, 'utf8'));
    // And says what it is, for the host tool.
    const info = execaSync('sh', ['-c', `tar --zstd -xOf '${first.tarball}' ./usr/lib/ebtest/images/1.4.0-rc.1/usr/share/ephemeral-builder/image.env`]).stdout;
    expect(info).toContain(`\nIMAGE_NAME=ebtest\nIMAGE_VERSION=1.4.0-rc.1\nIMAGE_ARCHITECTURE=amd64\nIMAGE_DATE=${SDE}\n`);
  });

  it('gives byte-identical artifacts when run again', async () => {
    const second = await packStage.run(input(path.join(work, 'out2')), fixtureCtx(recipe, work));
    for (const k of ['imageDeb', 'hostDeb', 'tarball', 'installSh', 'sbom', 'manifest', 'sha256sums'] as const) {
      expect(fs.readFileSync(second[k]).equals(fs.readFileSync(first[k])), k).toBe(true);
    }
  });

  it('leaves OUT untouched (no artifact, no temporary) when packing fails', async () => {
    const bad = path.join(work, 'bad-rootfs');
    fs.mkdirSync(path.join(bad, 'dev'), { recursive: true });
    execaSync('mknod', [path.join(bad, 'dev/null'), 'c', '1', '3']);
    const out = path.join(work, 'out-bad');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'unrelated'), 'kept');
    await expect(packStage.run(input(out, { tree: { ...tree, rootfs: bad } }), fixtureCtx(recipe, work))).rejects.toThrow(/dev\/null \(device node\)/);
    expect(fs.readdirSync(out)).toEqual(['unrelated']);
  });

  it('removes its temporaries when a compressor fails midway', async () => {
    // A level zstd refuses only when it starts: the stage fails after the .debs are written.
    const broken = fixtureResolvedRecipe({ compression: { tarballLevel: 22, debLevel: 1 } });
    const out = path.join(work, 'out-midway');
    const env = process.env.PATH;
    // zstd is found through PATH: a wrapper that fails on the tarball's level.
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(
      path.join(bin, 'zstd'),
      '#!/bin/sh\nfor a; do [ "$a" = -22 ] && { echo "zstd: simulated failure" >&2; exit 3; }; done\nexec /usr/bin/zstd "$@"\n',
      { mode: 0o755 },
    );
    process.env.PATH = `${bin}:${env}`;
    try {
      await expect(packStage.run(input(out), fixtureCtx(broken, work))).rejects.toThrow(/simulated failure/);
    } finally {
      process.env.PATH = env;
    }
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('uses low levels with --fast and names the tarball level in the key', async () => {
    const log: string[] = [];
    const fast = await packStage.run(
      input(path.join(work, 'out-fast'), { fast: true }),
      fixtureCtx(fixtureResolvedRecipe({ compression: { tarballLevel: 19, debLevel: 9 } }), work, [], log),
    );
    expect(fs.existsSync(fast.tarball)).toBe(true);
    expect(log.join('\n')).toMatch(/\.deb members xz -1; tarball zstd -3/);
    const k1 = JSON.stringify(packStage.cacheKey(fixtureResolvedRecipe()));
    const k2 = JSON.stringify(packStage.cacheKey(fixtureResolvedRecipe({ compression: { tarballLevel: 4, debLevel: 1 } })));
    expect(k1).not.toBe(k2);
    expect(packStage.cacheKey(recipe).hostSources).toMatch(/^[0-9a-f]{64}$/);
  });
});

describeWith({ tools: ['xz', 'zstd'] }, 'pack stage verify', () => {
  it('refuses, before anything runs, what would fail late', () => {
    expect(() => packStage.verify(fixtureResolvedRecipe({ compression: { deb: 'xz', debLevel: 12 } }))).toThrow(RecipeError);
    expect(() => packStage.verify(fixtureResolvedRecipe({ description: 'x'.repeat(81) }))).toThrow(/synopsis/);
    expect(() => packStage.verify(fixtureResolvedRecipe({ version: '1.4.0-alpha-1' }))).toThrow(/Debian revision/);
  });
});
