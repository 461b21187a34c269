// The builder as a new team meets it, from the packed tarball and never from this checkout: `npm
// pack` (which builds dist/), `init` through npx in an empty directory outside the repository, the
// scaffold's dependencies installed (the tarball in place of the registry's version, which this
// version is not on yet), its recipe and overlay type-checked against the package's declarations,
// the scaffolded recipe built with --fast, its overlay applied, and the scaffolded .gitlab-ci.yml's
// build job run by gitlab-ci-local as a protected tag would run it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/env.ts';
import { REPO, TEST_CACHE } from '../helpers/paths.ts';

describeWith({ root: true, tools: ['npm', 'git', 'mmdebstrap', 'systemd-nspawn', 'ssh'] }, 'a new user of the npm package', () => {
  // Outside the repository, so that nothing resolves to the checkout by accident.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-new-user-'));
  const project = path.join(work, 'team-images');
  let tarball: string;
  // The repository's node 24 first on PATH, as npx puts a project's node_modules/.bin.
  const env = { PATH: `${path.join(REPO, 'node_modules/.bin')}:${process.env.PATH}`, CI: '1', npm_config_update_notifier: 'false' };
  const run = (cmd: string, args: string[], cwd: string) => execa(cmd, args, { cwd, env, reject: false, all: true, stdin: 'ignore' });

  beforeAll(async () => {
    const pack = await run('npm', ['pack', '--pack-destination', work], REPO);
    if (pack.exitCode !== 0) throw new Error(`npm pack failed:\n${pack.all}`);
    tarball = path.join(work, pack.stdout.trim().split('\n').pop() as string);
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('packs no tests, fixtures, bench results, sources of dist/ or build outputs', async () => {
    const list = (await execa('tar', ['-tzf', tarball])).stdout.split('\n');
    expect(list.filter((f) => /^package\/(test|bench|out|recipes|\.cache|pipeline|overlays|host)\//.test(f))).toEqual([]);
    expect(list.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.includes('/templates/'))).toEqual([]);
    expect(list).toEqual(
      expect.arrayContaining([
        'package/bin/ephemeral-builder.js',
        'package/dist/pipeline/cli.js',
        'package/dist/pipeline/index.d.ts',
        'package/dist/overlays/hygiene/overlay.js',
        'package/dist/host/bin/spawn',
        'package/dist/man/ephemeral-builder.1',
        'package/LICENSE',
      ]),
    );
  });

  it('runs from node_modules: --version, init, and refuses to init over existing files', async () => {
    const version = await run('npx', ['--yes', '--package', tarball, 'ephemeral-builder', '--version'], work);
    expect(version.stdout.trim().split('\n').pop()).toBe(JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version);
    const init = await run('npx', ['--yes', '--package', tarball, 'ephemeral-builder', 'init', project], work);
    expect(init.exitCode, init.all).toBe(0);
    for (const f of ['package.json', 'recipe.ts', 'overlays/team/overlay.ts', 'setup.sh', '.gitlab-ci.yml', 'README.md', '.gitignore']) {
      expect(fs.existsSync(path.join(project, f)), f).toBe(true);
    }
    const again = await run('npx', ['--yes', '--package', tarball, 'ephemeral-builder', 'init', project], work);
    expect(again.exitCode).toBe(2);
    expect(again.all).toContain('nothing was written (init never overwrites)');
  });

  it("type-checks the scaffolded recipe and overlay against the package's declarations", async () => {
    const install = await run('npm', ['install', '--no-audit', '--no-fund', tarball], project);
    expect(install.exitCode, install.all).toBe(0);
    const typecheck = await run('npm', ['run', 'typecheck'], project);
    expect(typecheck.exitCode, typecheck.all).toBe(0);
    // A typing mistake in the recipe is caught: the declarations are really used.
    fs.writeFileSync(
      path.join(project, 'bad.ts'),
      "import { defineRecipe } from 'ephemeral-builder';\nexport default defineRecipe({ limits: { memory: 4 } });\n",
    );
    const strict = await run(
      path.join(project, 'node_modules/.bin/tsc'),
      ['--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--strict', '--skipLibCheck', '--allowImportingTsExtensions', 'bad.ts'],
      project,
    );
    expect(strict.exitCode).not.toBe(0);
    // limits.memory is a size string ("4G"), and the declarations say so.
    expect(strict.all).toMatch(/bad\.ts\(2,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    fs.rmSync(path.join(project, 'bad.ts'));
  });

  it('builds the scaffolded recipe (--fast), with its overlay, from the installed package', async () => {
    const out = path.join(project, 'out');
    const build = await run('npx', ['ephemeral-builder', 'build', 'recipe.ts', '--fast', '--out', out, '--cache-dir', TEST_CACHE], project);
    expect(build.exitCode, build.all).toBe(0);
    expect(build.all).toMatch(/overlays: \d+\/7 \.\/overlays\/team/);
    expect(fs.readdirSync(out)).toEqual(expect.arrayContaining(['team-images-0.1.0-amd64.tar.zst', 'team-images_0.1.0_amd64.deb', 'manifest.json']));
    const listing = (
      await execa('sh', ['-c', `tar --zstd -xOf '${path.join(out, 'team-images-0.1.0-amd64.tar.zst')}' ./usr/lib/team-images/images/0.1.0/etc/gitconfig`])
    ).stdout;
    expect(listing).toContain('defaultBranch = main');
  });

  it("runs the scaffolded .gitlab-ci.yml's build job for a protected tag with gitlab-ci-local: the CI scripts and the builder from node_modules, an empty cache", async () => {
    // A git repository, as the team's would be.
    const git = (args: string[]) => execa('git', ['-c', 'user.name=team', '-c', 'user.email=team@example.invalid', ...args], { cwd: project });
    await git(['init', '-q', '-b', 'main']);
    await git(['add', '-A']);
    await git(['commit', '-q', '-m', 'scaffold']);
    await git(['remote', 'add', 'origin', 'https://gitlab.example.invalid/team/team-images.git']);
    const gcl = path.join(REPO, 'node_modules/.bin/gitlab-ci-local');
    const r = await run(
      gcl,
      ['--variable', 'CI_COMMIT_TAG=v0.2.0', '--variable', 'CI_COMMIT_REF_PROTECTED=true', '--variable', 'EB_BUILD_FLAGS=--fast', 'build'],
      project,
    );
    expect(r.exitCode, String(r.all).slice(-4000)).toBe(0);
    expect(r.all).toContain('node_modules/ephemeral-builder/dist/scripts/ci/build-release.sh');
    expect(r.all).toMatch(/building recipe\.ts as 0\.2\.0 for amd64 from an empty cache/);
    // The build matrix's arm64 job ends at once: ARCHITECTURES is amd64 unless the team adds arm64.
    expect(r.all).toContain('arm64 is not in ARCHITECTURES (amd64): this job builds nothing');
    const out = path.join(project, 'out/amd64');
    expect(fs.readdirSync(out)).toEqual(
      expect.arrayContaining([
        'team-images-0.2.0-amd64.tar.zst',
        'team-images_0.2.0_amd64.deb',
        'team-images-image-0.2.0_0.2.0_amd64.deb',
        'team-images-0.2.0-amd64.cdx.json',
      ]),
    );
    expect(r.all).toMatch(/^.*VERSION=0\.2\.0$/m);
    expect(r.all).toMatch(/^.*PACKAGE_NAME=team-images$/m);
  });
});
