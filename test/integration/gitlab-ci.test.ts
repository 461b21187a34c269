// The release pipeline (.gitlab-ci.yml) run for real by gitlab-ci-local, shell executor with
// --shell-isolation (each job in its own copy of the tracked files, artifacts and dotenv handed on
// as GitLab does), in a temporary git working copy of this repository:
//   - who runs what: every job on its runner tag; build, pages and release only for a protected
//     tag (pages also for the re-sign schedule), so no branch, merge request, unprotected tag or
//     other schedule pipeline runs the one job that deploys to the environment the signing key is
//     scoped to; pages holds a resource group;
//   - the tag pipeline's jobs: `build`, a parallel matrix with a job per architecture (amd64,
//     arm64), those ARCHITECTURES does not list ending at once; `build: [amd64]` of
//     recipes/minimal.ts on tag v1.2.3 from an empty cache of its own, without the key; `pages`,
//     with the key given as GitLab gives it (a File variable scoped to the apt-signing
//     environment, in gitlab-ci-local's variables file), adds the amd64 and arm64 builds in one
//     signed update to the repository the "site" serves (a previous release, on a loopback HTTP
//     server), and signs the one SHA256SUMS covering both, in a GnuPG home that is gone
//     afterwards, also when the job fails; without one architecture's build it refuses, the
//     repository unchanged; `release` uploads every architecture's files and makes the release
//     through the Releases API. The arm64 job's artifacts are a build of the same recipe for arm64
//     by the CLI (`build --architecture arm64`, the shared test cache, where build-arm64.test.ts's
//     bootstrap is too), laid where gitlab-ci-local keeps that job's artifacts: a second cold
//     bootstrap under qemu inside the job would add minutes, and its script is amd64's;
//   - the schedule: `rebuild` asks `outdated` about the latest release (against local mirror
//     directories the test controls): nothing behind ends green with nothing built or released and
//     `pages` signing the same repository again, pruned to APT_KEEP; a package behind builds the
//     next patch version, publishes it and releases it with the diff as its notes;
//   - the scripts the jobs call against their failure modes.
// The `test` job is not run here (it would run this suite inside itself). GitLab's package
// registry and Releases API cannot run here: a stand-in on loopback records what the release job
// sends them.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { field, parseParagraphs } from '../../pipeline/publish/deb822.ts';
import { publish } from '../../pipeline/publish/publish.ts';
import { buildFixtureDeb } from '../e2e/harness/fixture-deb.ts';
import { writeFixtureSuite, type FixturePackage } from '../helpers/fixture-mirror.ts';
import { makeSigningKey, type SigningKey } from '../e2e/harness/gpg-key.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { serveDirectory, type StaticServer } from '../helpers/http-server.ts';
import { REPO, TEST_CACHE } from '../helpers/paths.ts';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const BIN_PATH = `${path.join(REPO, 'node_modules/.bin')}:${process.env.PATH ?? ''}`;
const PROTECTED_TAG = { CI_COMMIT_TAG: 'v1.2.3', CI_COMMIT_REF_PROTECTED: 'true' };
/** The schedule: a pipeline schedule on the protected default branch. */
const RESIGN_SCHEDULE = { CI_PIPELINE_SOURCE: 'schedule', CI_COMMIT_BRANCH: 'main', CI_DEFAULT_BRANCH: 'main', CI_COMMIT_REF_PROTECTED: 'true' };
/** The release of both architectures the build matrix holds. */
const BOTH = { ARCHITECTURES: 'amd64 arm64' };
/** The files of one architecture's build of recipes/minimal.ts as 1.2.3 (out/ARCH of its build job). */
const buildFiles = (arch: string) => [
  'SHA256SUMS',
  `ephemeral-builder-1.2.3-${arch}.cdx.json`,
  `ephemeral-builder-1.2.3-${arch}.tar.zst`,
  `ephemeral-builder-image-1.2.3_1.2.3_${arch}.deb`,
  `ephemeral-builder_1.2.3_${arch}.deb`,
  'install.sh',
  'manifest.json',
];

interface Run {
  exitCode: number;
  all: string;
}

/** A stand-in for GitLab's generic package and Releases APIs on loopback: records every request. */
async function gitlabApi(status = { release: 201 }) {
  const requests: Array<{ method: string; url: string; token: string; body: Buffer }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', token: String(req.headers['job-token'] ?? ''), body: Buffer.concat(chunks) });
      const code = req.url?.endsWith('/releases') ? status.release : 201;
      res.writeHead(code, { 'Content-Type': 'application/json' }).end(code === 409 ? '{"message":"Release already exists"}' : '{"message":"201 Created"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v4`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Each job's runner tags, environment and resource group, from the YAML gitlab-ci-local --preview prints (defaults expanded). */
function jobsOf(preview: string): Map<string, { tags: string[]; environment?: string; resourceGroup?: string }> {
  const jobs = new Map<string, { tags: string[]; environment?: string; resourceGroup?: string }>();
  let current: { tags: string[]; environment?: string; resourceGroup?: string } | undefined;
  let inTags = false;
  for (const line of preview.split('\n')) {
    const top = /^([a-z][a-z0-9_-]*):\s*$/.exec(line);
    if (top) {
      current = ['stages', 'variables', 'default', 'workflow'].includes(top[1]!) ? undefined : { tags: [] };
      if (current) jobs.set(top[1]!, current);
      inTags = false;
      continue;
    }
    if (!current) continue;
    if (/^ {2}tags:/.test(line)) inTags = true;
    else if (inTags && /^ {4}- /.test(line)) current.tags.push(line.replace(/^ {4}- /, '').trim());
    else if (/^ {2}\S/.test(line)) inTags = false;
    const env = /^ {4}name: (\S+)$/.exec(line);
    if (env) current.environment = env[1];
    const group = /^ {2}resource_group: (\S+)$/.exec(line);
    if (group) current.resourceGroup = group[1];
  }
  return jobs;
}

describeWith(
  { root: true, tools: ['git', 'rsync', 'curl', 'jq', 'gpg', 'gpgv', 'sha256sum', 'dpkg-deb', 'mmdebstrap', 'systemd-nspawn', 'ssh', 'arch-test'] },
  '.gitlab-ci.yml run by gitlab-ci-local',
  () => {
    let work: string;
    let scratch: string;
    let key: SigningKey;
    let secretKeyFile: string;
    /** gitlab-ci-local's variables file: APT_SIGNING_KEY, a File variable scoped to apt-signing. */
    let variablesFile: string;
    let site: string;
    let server: StaticServer;
    let previousDeb: string;

    /** gitlab-ci-local from node_modules (it needs Node >= 22: node_modules/.bin/node is 24). */
    async function gcl(args: string[]): Promise<Run> {
      const r = await execa('gitlab-ci-local', args, { cwd: work, reject: false, all: true, stdin: 'ignore', env: { PATH: BIN_PATH }, timeout: 20 * 60_000 });
      return { exitCode: r.exitCode ?? -1, all: r.exitCode === undefined ? `${r.shortMessage}\n${String(r.all)}` : String(r.all) };
    }
    const asVariables = (vars: Record<string, string>) => Object.entries(vars).flatMap(([k, v]) => ['--variable', `${k}=${v}`]);
    const job = (name: string, vars: Record<string, string>) => gcl(['--shell-isolation', '--variables-file', variablesFile, ...asVariables(vars), name]);
    const script = async (file: string, args: string[], env: Record<string, string> = {}, cwd = work): Promise<Run> => {
      const r = await execa('sh', [path.join(REPO, 'scripts/ci', file), ...args], {
        cwd,
        reject: false,
        all: true,
        stdin: 'ignore',
        env: { PATH: BIN_PATH, ...env },
      });
      return { exitCode: r.exitCode ?? -1, all: String(r.all) };
    };
    /** Where gitlab-ci-local keeps a job's artifacts: a matrix job's name ("build: [amd64]") with its other characters base64url-encoded. */
    const artifacts = (jobName: string, ...rel: string[]) =>
      path.join(
        work,
        '.gitlab-ci-local/artifacts',
        jobName.replace(/[^\w-]+/g, (m) => Buffer.from(m).toString('base64url')),
        ...rel,
      );
    /** A file listing with every file's sha256: what "unchanged" means for a repository directory. */
    const snapshot = (dir: string) =>
      fs
        .readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .sort()
        .map((f) => (fs.statSync(path.join(dir, f)).isFile() ? `${f} ${sha256(path.join(dir, f))}` : `${f}/`));
    /** The temporary GnuPG home a pages run named: gone, and no gpg-agent left for it. */
    async function expectKeyGone(log: string): Promise<void> {
      const home = /the signing key goes into (\S+), which is removed when this job ends/.exec(log)?.[1];
      expect(home, log.slice(-3000)).toBeDefined();
      expect(fs.existsSync(home!)).toBe(false);
      expect((await execa('pgrep', ['-f', `gpg-agent --homedir ${home}`], { reject: false })).stdout).toBe('');
    }

    beforeAll(async () => {
      // A working copy as a fresh clone would have it: tracked and new files, nothing git ignores
      // (no node_modules, no caches): the jobs install what they need through setup.sh.
      work = tempDir('gcl');
      // node_modules is left out by name as well: .gitignore's "node_modules/" does not match a
      // symlink, and the jobs' `npm ci` would empty whatever such a link points at.
      const listed = await execa('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO });
      const files = listed.stdout.split('\0').filter((f) => f && !/^(node_modules|\.cache|\.gitlab-ci-local|out)(\/|$)/.test(f));
      await execa('rsync', ['-a', '--from0', '--files-from=-', './', `${work}/`], { cwd: REPO, input: files.join('\0') });
      const git = (args: string[]) => execa('git', ['-c', 'user.name=ci', '-c', 'user.email=ci@example.invalid', ...args], { cwd: work });
      await git(['init', '-q', '-b', 'main']);
      await git(['add', '-A']);
      await git(['commit', '-q', '-m', 'snapshot for gitlab-ci-local']);
      await git(['remote', 'add', 'origin', 'https://gitlab.example.invalid/tools/ephemeral-builder.git']);

      scratch = tempDir('gcl-scratch');
      key = await makeSigningKey('ephemeral-builder CI test <ci@example.invalid>');
      secretKeyFile = path.join(scratch, 'signing-key.asc');
      const secret = await execa('gpg', ['--batch', '--homedir', key.gnupgHome, '--armor', '--export-secret-keys', key.fingerprint]);
      fs.writeFileSync(secretKeyFile, `${secret.stdout}\n`, { mode: 0o600 });
      // YAML takes JSON: the key's text as the value of the File variable in apt-signing alone.
      variablesFile = path.join(scratch, 'variables.yml');
      fs.writeFileSync(variablesFile, JSON.stringify({ APT_SIGNING_KEY: { type: 'file', values: { 'apt-signing': `${secret.stdout}\n` } } }), { mode: 0o600 });

      // What the Pages site serves before this release: version 1.0.0 of the host package.
      site = path.join(scratch, 'site');
      previousDeb = await buildFixtureDeb(path.join(scratch, 'debs'), { name: 'ephemeral-builder', version: '1.0.0', architecture: 'amd64' });
      await publish({ repoDir: site, gnupgHome: key.gnupgHome, debs: [previousDeb], date: Math.floor(Date.now() / 1000) - 86400 });
      server = await serveDirectory(site);
    });

    afterAll(async () => {
      await server?.close();
      await key?.dispose();
      for (const dir of [work, scratch]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('runs every job on its runner tag, and build, pages and release for protected tags only: no other pipeline runs the job the signing key reaches', async () => {
      const preview = await gcl(['--preview']);
      expect(preview.exitCode, preview.all).toBe(0);
      const jobs = jobsOf(preview.all);
      expect(Object.fromEntries([...jobs].map(([name, j]) => [name, j.tags]))).toEqual({
        test: ['eb-root-shell'],
        build: ['eb-release'],
        rebuild: ['eb-release'],
        pages: ['eb-release'],
        release: ['eb-release'],
      });
      // The key is scoped to this environment, and pages is the one job in it; it publishes alone.
      expect([...jobs].filter(([, j]) => j.environment).map(([name, j]) => `${name} ${j.environment}`)).toEqual(['pages apt-signing']);
      expect(jobs.get('pages')!.resourceGroup).toBe('apt-repository');

      /** The jobs a pipeline runs, with the environment each deploys to. */
      const running = async (vars: Record<string, string>) => {
        const r = await gcl(['--list-csv', ...asVariables(vars)]);
        expect(r.exitCode, r.all).toBe(0);
        return r.all
          .split('\n')
          .filter((l) => /^[a-z]+(: \[[a-z0-9]+\])?;/.test(l) && !l.startsWith('name;'))
          .map((l) => {
            const [name, , when, , environment] = l.split(';');
            return `${name} ${when}${environment ? ` ${environment}` : ''}`;
          });
      };
      const branchLike: Record<string, Record<string, string>> = {
        'a branch push': { CI_PIPELINE_SOURCE: 'push', CI_COMMIT_BRANCH: 'feature', CI_COMMIT_REF_PROTECTED: 'false' },
        'a push to the protected default branch': {
          CI_PIPELINE_SOURCE: 'push',
          CI_COMMIT_BRANCH: 'main',
          CI_DEFAULT_BRANCH: 'main',
          CI_COMMIT_REF_PROTECTED: 'true',
        },
        'a merge request': {
          CI_PIPELINE_SOURCE: 'merge_request_event',
          CI_COMMIT_BRANCH: 'feature',
          CI_MERGE_REQUEST_IID: '7',
          CI_COMMIT_REF_PROTECTED: 'false',
        },
        'a pipeline run from the web on the default branch': {
          CI_PIPELINE_SOURCE: 'web',
          CI_COMMIT_BRANCH: 'main',
          CI_DEFAULT_BRANCH: 'main',
          CI_COMMIT_REF_PROTECTED: 'true',
        },
        'an unprotected tag': { CI_COMMIT_TAG: 'v1.2.3', CI_COMMIT_REF_PROTECTED: 'false' },
      };
      for (const [what, vars] of Object.entries(branchLike)) expect(await running(vars), what).toEqual(['test on_success']);
      expect(await running({ ...RESIGN_SCHEDULE, CI_COMMIT_BRANCH: 'feature', CI_COMMIT_REF_PROTECTED: 'false' }), 'a schedule on another branch').toEqual([]);
      // build and rebuild are a matrix, a job per architecture, whatever ARCHITECTURES holds (it says which of them build).
      expect(await running(PROTECTED_TAG)).toEqual([
        'test on_success',
        'build: [amd64] on_success',
        'build: [arm64] on_success',
        'pages on_success apt-signing',
        'release on_success',
      ]);
      expect(await running(RESIGN_SCHEDULE)).toEqual([
        'rebuild: [amd64] on_success',
        'rebuild: [arm64] on_success',
        'pages on_success apt-signing',
        'release on_success',
      ]);
      // pages and release need the whole matrix (every job of it), so neither runs when one architecture's build failed.
      const needs = (await gcl(['--list-csv', ...asVariables(PROTECTED_TAG)])).all
        .split('\n')
        .filter((l) => /^(pages|release);/.test(l))
        .map((l) => `${l.split(';')[0]} ${l.split(';').at(-1)}`);
      expect(needs).toEqual(['pages [build,rebuild]', 'release [build,rebuild,pages]']);
      expect(await running({ ...RESIGN_SCHEDULE, REBUILD_ON_SCHEDULE: 'false' })).toEqual(['pages on_success apt-signing']);
    });

    it('version-from-tag.sh takes v<semver> and refuses everything else', async () => {
      expect((await script('version-from-tag.sh', ['v1.2.3'])).all.trim()).toBe('1.2.3');
      expect((await script('version-from-tag.sh', ['1.4.0-rc.1'])).all.trim()).toBe('1.4.0-rc.1');
      for (const bad of ['release-5', 'v1.4', 'v1.2.3+build.7', '=1.2.3', 'vv1.2.3', 'v01.2.3', '']) {
        const r = await script('version-from-tag.sh', [bad]);
        expect(r.exitCode, `tag "${bad}": ${r.all}`).toBe(2);
        expect(r.all).toMatch(/^version-from-tag: /);
      }
    });

    it('build refuses a tag that is not a semantic version, and builds nothing', async () => {
      const r = await job('build', { ...PROTECTED_TAG, CI_COMMIT_TAG: 'release-5', RECIPE: 'recipes/minimal.ts' });
      expect(r.exitCode, r.all).not.toBe(0);
      expect(r.all).toContain("version-from-tag: tag 'release-5' is not a semantic version");
      expect(r.all).not.toMatch(/bootstrap: start/);
      expect(fs.existsSync(artifacts('build: [amd64]', 'out'))).toBe(false);
    });

    it('the build job of an architecture ARCHITECTURES does not list (amd64 by default) ends at once, green, and builds nothing', async () => {
      const r = await job('build: [arm64]', { ...PROTECTED_TAG, RECIPE: 'recipes/minimal.ts' });
      expect(r.exitCode, r.all.slice(-3000)).toBe(0);
      expect(r.all).toContain('arm64 is not in ARCHITECTURES (amd64): this job builds nothing');
      expect(r.all).not.toContain('sh setup.sh');
      expect(fs.existsSync(artifacts('build: [arm64]', 'out'))).toBe(false);
    });

    it('build refuses to run when the signing key reaches it (a variable not scoped to apt-signing)', async () => {
      const r = await script('build-release.sh', ['recipes/minimal.ts', '1.2.3', path.join(scratch, 'never')], { APT_SIGNING_KEY: secretKeyFile });
      expect(r.exitCode).toBe(1);
      expect(r.all).toContain('APT_SIGNING_KEY reached the build job: scope the variable to the environment apt-signing');
      expect(fs.existsSync(path.join(scratch, 'never'))).toBe(false);
    });

    it('build: [amd64] on a protected tag v1.2.3 builds recipes/minimal.ts for amd64 from an empty cache of its own, removed afterwards, and leaves the release artifacts in out/amd64 and the dotenv', async () => {
      const r = await job('build: [amd64]', { ...PROTECTED_TAG, ...BOTH, RECIPE: 'recipes/minimal.ts', EB_BUILD_FLAGS: '--fast' });
      expect(r.exitCode, r.all.slice(-6000)).toBe(0);
      const cache = /building recipes\/minimal\.ts as 1\.2\.3 for amd64 from an empty cache, (\S+)/.exec(r.all)?.[1];
      expect(cache, r.all.slice(-6000)).toBeDefined();
      expect(fs.existsSync(cache!)).toBe(false);
      // Nothing came from a cache: every cached stage started as a miss.
      const started = [...r.all.matchAll(/ (\w+): start \(cache (\w+)\)$/gm)].map((m) => `${m[1]} ${m[2]}`);
      expect(started).toContain('bootstrap miss');
      expect(started.filter((x) => !x.endsWith(' miss'))).toEqual([]);
      expect(fs.readdirSync(artifacts('build: [amd64]', 'out'))).toEqual(['amd64']);
      const out = artifacts('build: [amd64]', 'out', 'amd64');
      expect(fs.readdirSync(out).sort()).toEqual(buildFiles('amd64'));
      const check = await execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: out, reject: false, all: true });
      expect(check.exitCode, String(check.all)).toBe(0);
      expect(
        String(check.all)
          .split('\n')
          .filter((l) => l.endsWith(': OK')),
      ).toHaveLength(6);
      const version = await execa('dpkg-deb', ['--field', path.join(out, 'ephemeral-builder_1.2.3_amd64.deb'), 'Package', 'Version']);
      expect(version.stdout).toBe('Package: ephemeral-builder\nVersion: 1.2.3');
      // The same for every architecture: the dotenvs of the matrix's jobs reach pages and release merged.
      const dotenv = fs.readFileSync(artifacts('build: [amd64]', '.gitlab-ci-reports/dotenv/release.env'), 'utf8');
      expect(dotenv).toBe(['VERSION=1.2.3', 'DEB_VERSION=1.2.3', 'PACKAGE_NAME=ephemeral-builder', ''].join('\n'));
    });

    it("build: [arm64]'s artifacts: recipes/minimal.ts built for arm64 (build --architecture arm64) as 1.2.3, checked by the job's release-env.sh", async () => {
      const built = path.join(scratch, 'arm64-build');
      const b = await runCli([
        'build',
        'recipes/minimal.ts',
        '--architecture',
        'arm64',
        '--version',
        '1.2.3',
        '--fast',
        '--out',
        built,
        '--cache-dir',
        TEST_CACHE,
      ]);
      expect(b.exitCode, b.stderr.slice(-4000)).toBe(0);
      const out = artifacts('build: [arm64]', 'out', 'arm64');
      fs.cpSync(built, out, { recursive: true });
      expect(fs.readdirSync(out).sort()).toEqual(buildFiles('arm64'));
      const env = await execa('sh', [path.join(REPO, 'scripts/ci/release-env.sh'), out, '1.2.3'], { env: { PATH: BIN_PATH } });
      fs.mkdirSync(artifacts('build: [arm64]', '.gitlab-ci-reports/dotenv'), { recursive: true });
      fs.writeFileSync(artifacts('build: [arm64]', '.gitlab-ci-reports/dotenv/release.env'), `${env.stdout}\n`);
      expect(fs.readFileSync(artifacts('build: [arm64]', '.gitlab-ci-reports/dotenv/release.env'), 'utf8')).toBe(
        fs.readFileSync(artifacts('build: [amd64]', '.gitlab-ci-reports/dotenv/release.env'), 'utf8'),
      );
      const arch = await execa('dpkg-deb', ['--field', path.join(out, 'ephemeral-builder_1.2.3_arm64.deb'), 'Architecture']);
      expect(arch.stdout).toBe('arm64');
    });

    it('pages refuses a release without the build of one of its architectures, or with an incomplete one, and a schedule whose rebuild jobs disagreed: before the key, the repository unchanged', async () => {
      // The pages job's working copy: the site's repository as a previous run left it in public/, and out/ as the build jobs' artifacts make it.
      const dir = path.join(scratch, 'pages-refuses');
      fs.cpSync(site, path.join(dir, 'public'), { recursive: true });
      fs.cpSync(artifacts('build: [amd64]', 'out'), path.join(dir, 'out'), { recursive: true });
      const before = { site: snapshot(site), public: snapshot(path.join(dir, 'public')) };
      const env = {
        ...PROTECTED_TAG,
        ...BOTH,
        APT_SIGNING_KEY: secretKeyFile,
        APT_REPO_URL: server.url,
        CI_PAGES_URL: server.url,
        VERSION: '1.2.3',
        PACKAGE_NAME: 'ephemeral-builder',
      };
      const missing = await script('publish-pages.sh', [], env, dir);
      expect(missing.exitCode).toBe(1);
      expect(missing.all).toContain(
        'release-set: out/arm64 is missing: the build of arm64 did not run or did not succeed (a release holds every architecture in ARCHITECTURES, amd64 arm64, or none',
      );
      expect(missing.all).toContain(
        'publish-pages: not publishing ephemeral-builder 1.2.3: it must hold every architecture in ARCHITECTURES (amd64 arm64), complete; the repository is unchanged',
      );
      // An arm64 build without its SBOM is refused the same way.
      fs.cpSync(artifacts('build: [arm64]', 'out'), path.join(dir, 'out'), { recursive: true });
      fs.rmSync(path.join(dir, 'out/arm64/ephemeral-builder-1.2.3-arm64.cdx.json'));
      const incomplete = await script('publish-pages.sh', [], env, dir);
      expect(incomplete.exitCode).toBe(1);
      expect(incomplete.all).toContain('release-env: out/arm64/ephemeral-builder-1.2.3-arm64.cdx.json is missing');
      const twice = await script('publish-pages.sh', [], { ...env, ARCHITECTURES: 'amd64 arm64 amd64' }, dir);
      expect(twice.exitCode).toBe(1);
      expect(twice.all).toContain('release-set: ARCHITECTURES names amd64 twice');
      // A schedule's pages with builds in out/ but REBUILD=no (the last rebuild job's dotenv): publishing some architectures would break the release.
      const disagreed = await script(
        'publish-pages.sh',
        [],
        { ...RESIGN_SCHEDULE, ...BOTH, APT_SIGNING_KEY: secretKeyFile, APT_REPO_URL: server.url, CI_PAGES_URL: server.url, REBUILD: 'no' },
        dir,
      );
      expect(disagreed.exitCode).toBe(1);
      expect(disagreed.all).toContain(
        'publish-pages: out/amd64 holds a build, but REBUILD is not yes: not every architecture was rebuilt, so none is published; the repository is unchanged',
      );
      for (const r of [missing, incomplete, twice, disagreed]) {
        expect(r.all).not.toContain('the signing key goes into');
        expect(r.all).not.toContain('fetch-apt-repo');
      }
      expect({ site: snapshot(site), public: snapshot(path.join(dir, 'public')) }).toEqual(before);
      expect(fs.existsSync(path.join(dir, 'out/SHA256SUMS'))).toBe(false);
    });

    it('pages that fails once it has the key (the site is signed by another key) publishes nothing and removes its GnuPG home too', async () => {
      const other = await makeSigningKey('someone else <other@example.invalid>');
      const otherSite = path.join(scratch, 'other-site');
      await publish({ repoDir: otherSite, gnupgHome: other.gnupgHome, debs: [previousDeb] });
      const otherServer = await serveDirectory(otherSite);
      try {
        // The job's script itself, as the job runs it (gitlab-ci-local would add only setup.sh), with the amd64 build.
        const failingPages = path.join(scratch, 'pages-fails');
        fs.cpSync(artifacts('build: [amd64]', 'out'), path.join(failingPages, 'out'), { recursive: true });
        const r = await script(
          'publish-pages.sh',
          [],
          {
            ...PROTECTED_TAG,
            APT_SIGNING_KEY: secretKeyFile,
            APT_REPO_URL: otherServer.url,
            CI_PAGES_URL: otherServer.url,
            ARCHITECTURES: 'amd64',
            PACKAGE_NAME: 'ephemeral-builder',
            VERSION: '1.2.3',
          },
          failingPages,
        );
        expect(r.exitCode).not.toBe(0);
        expect(r.all).toMatch(/fetch-apt-repo: .*InRelease is not signed by a key in|fetch-apt-repo: .*Release is not signed by a key in/);
        expect(r.all).not.toContain('publish-pages: signed out/SHA256SUMS');
        await expectKeyGone(r.all);
      } finally {
        await otherServer.close();
        await other.dispose();
      }
    });

    it("pages on a protected tag: the key of the apt-signing environment signs the repository the site serves, with both architectures' builds added in one update and 1.0.0 kept, and the one SHA256SUMS of both; its GnuPG home is gone afterwards", async () => {
      const r = await job('pages', { ...PROTECTED_TAG, ...BOTH, APT_REPO_URL: server.url, CI_PAGES_URL: server.url });
      expect(r.exitCode, r.all.slice(-6000)).toBe(0);
      expect(r.all).toContain('fetch-apt-repo: copied');
      expect(r.all).toContain('release-set: ephemeral-builder 1.2.3 for amd64 arm64: 12 files in out/SHA256SUMS');
      await expectKeyGone(r.all);
      const pub = artifacts('pages', 'public');
      const indexOf = (arch: string) => parseParagraphs(fs.readFileSync(path.join(pub, `dists/stable/main/binary-${arch}/Packages`), 'utf8'));
      const packages = indexOf('amd64');
      expect(packages.map((p) => `${field(p, 'Package')} ${field(p, 'Version')}`).sort()).toEqual([
        'ephemeral-builder 1.0.0',
        'ephemeral-builder 1.2.3',
        'ephemeral-builder-archive-keyring 1',
        'ephemeral-builder-image-1.2.3 1.2.3',
      ]);
      expect(
        indexOf('arm64')
          .map((p) => `${field(p, 'Package')} ${field(p, 'Version')} ${field(p, 'Architecture')}`)
          .sort(),
      ).toEqual(['ephemeral-builder 1.2.3 arm64', 'ephemeral-builder-archive-keyring 1 all', 'ephemeral-builder-image-1.2.3 1.2.3 arm64']);
      for (const p of [...packages, ...indexOf('arm64')]) expect(sha256(path.join(pub, field(p, 'Filename')!))).toBe(field(p, 'SHA256'));
      // The earlier release is the very file published before, not a rebuilt look-alike.
      const old = packages.find((p) => field(p, 'Version') === '1.0.0')!;
      expect(sha256(path.join(pub, field(old, 'Filename')!))).toBe(sha256(previousDeb));
      for (const arch of ['amd64', 'arm64']) {
        const host = indexOf(arch).find((p) => field(p, 'Package') === 'ephemeral-builder' && field(p, 'Version') === '1.2.3')!;
        expect(field(host, 'SHA256')).toBe(sha256(artifacts(`build: [${arch}]`, 'out', arch, `ephemeral-builder_1.2.3_${arch}.deb`)));
      }
      // One update: one signed Release names both architectures and both indexes.
      const [signed] = parseParagraphs(fs.readFileSync(path.join(pub, 'dists/stable/Release'), 'utf8'));
      expect(field(signed!, 'Architectures')).toBe('amd64 arm64');
      for (const arch of ['amd64', 'arm64']) {
        expect(fs.readFileSync(path.join(pub, 'dists/stable/Release'), 'utf8')).toContain(` main/binary-${arch}/Packages\n`);
      }
      // Signed by the CI key, valid for APT_VALID_FOR, verifiable with the keyring the repository publishes.
      const keyring = path.join(pub, 'ephemeral-builder-archive-keyring.gpg');
      // stripFinalNewline off: execa cuts a last 0x0a byte off binary output too, and a fresh key's
      // export ends in one about once in 256 runs (that is how this check failed in a CI run).
      const exported = await execa('gpg', ['--batch', '--homedir', key.gnupgHome, '--export-options', 'export-minimal', '--export', key.fingerprint], {
        encoding: 'buffer',
        stripFinalNewline: false,
      });
      expect(Buffer.compare(fs.readFileSync(keyring), Buffer.from(exported.stdout))).toBe(0);
      const verify = await execa('gpgv', ['--keyring', keyring, path.join(pub, 'dists/stable/InRelease')], { reject: false, all: true });
      expect(verify.exitCode, String(verify.all)).toBe(0);
      const [release] = parseParagraphs(fs.readFileSync(path.join(pub, 'dists/stable/Release'), 'utf8'));
      expect((Date.parse(field(release!, 'Valid-Until')!) - Date.parse(field(release!, 'Date')!)) / 1000).toBe(21 * 86400);
      expect(fs.readFileSync(path.join(pub, 'ephemeral-builder.sources'), 'utf8')).toMatch(new RegExp(`^URIs: ${server.url.replace(/[.]/g, '\\.')}$`, 'm'));
      // SHA256SUMS of both architectures, signed beside it for the release, as a host checks it.
      const sums = await execa('gpgv', ['--keyring', keyring, artifacts('pages', 'out', 'SHA256SUMS.asc'), artifacts('pages', 'out', 'SHA256SUMS')], {
        reject: false,
        all: true,
      });
      expect(sums.exitCode, String(sums.all)).toBe(0);
      expect(String(sums.all)).toContain(key.fingerprint.slice(-16));
      const listed = fs
        .readFileSync(artifacts('pages', 'out', 'SHA256SUMS'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(/ +/));
      const perArch = (arch: string) => [
        `ephemeral-builder-1.2.3-${arch}.tar.zst`,
        `ephemeral-builder_1.2.3_${arch}.deb`,
        `ephemeral-builder-image-1.2.3_1.2.3_${arch}.deb`,
        `ephemeral-builder-1.2.3-${arch}.cdx.json`,
        `manifest-${arch}.json`,
      ];
      expect(listed.map(([, f]) => f)).toEqual([...perArch('amd64'), ...perArch('arm64'), 'install.sh', 'manifest.json']);
      const inBuild: Record<string, string> = {};
      for (const arch of ['amd64', 'arm64']) {
        for (const f of buildFiles(arch)) inBuild[f === 'manifest.json' ? `manifest-${arch}.json` : f] = sha256(artifacts(`build: [${arch}]`, 'out', arch, f));
      }
      for (const [sum, f] of listed) expect(sum, f).toBe(f === 'manifest.json' ? inBuild['manifest-amd64.json'] : inBuild[f!]);
    });

    it("release uploads every architecture's tarball, SBOM and manifest, install.sh, the one SHA256SUMS and its signature, and makes the release through the Releases API with a link to each", async () => {
      const api = await gitlabApi();
      try {
        const r = await job('release', {
          ...PROTECTED_TAG,
          ...BOTH,
          CI_API_V4_URL: api.url,
          CI_PROJECT_ID: '42',
          CI_JOB_TOKEN: 'job-token-1',
          CI_PAGES_URL: server.url,
        });
        expect(r.exitCode, r.all.slice(-6000)).toBe(0);
        const base = '/api/v4/projects/42/packages/generic/ephemeral-builder/1.2.3/';
        const files = [
          'ephemeral-builder-1.2.3-amd64.tar.zst',
          'ephemeral-builder-1.2.3-arm64.tar.zst',
          'SHA256SUMS',
          'SHA256SUMS.asc',
          'ephemeral-builder-archive-keyring.gpg',
          'ephemeral-builder-1.2.3-amd64.cdx.json',
          'manifest-amd64.json',
          'ephemeral-builder-1.2.3-arm64.cdx.json',
          'manifest-arm64.json',
          'install.sh',
          'manifest.json',
        ];
        expect(api.requests.map((u) => `${u.method} ${u.url}`)).toEqual([...files.map((f) => `PUT ${base}${f}`), 'POST /api/v4/projects/42/releases']);
        expect(api.requests.every((u) => u.token === 'job-token-1')).toBe(true);
        const body = (f: string) => api.requests.find((u) => u.url === `${base}${f}`)!.body;
        for (const arch of ['amd64', 'arm64']) {
          const tarball = `ephemeral-builder-1.2.3-${arch}.tar.zst`;
          expect(createHash('sha256').update(body(tarball)).digest('hex')).toBe(sha256(artifacts(`build: [${arch}]`, 'out', arch, tarball)));
        }
        expect(body('SHA256SUMS').toString()).toBe(fs.readFileSync(artifacts('pages', 'out', 'SHA256SUMS'), 'utf8'));
        expect(body('SHA256SUMS.asc').toString()).toBe(fs.readFileSync(artifacts('pages', 'out', 'SHA256SUMS.asc'), 'utf8'));
        expect(
          Buffer.compare(body('ephemeral-builder-archive-keyring.gpg'), fs.readFileSync(artifacts('pages', 'public', 'ephemeral-builder-archive-keyring.gpg'))),
        ).toBe(0);
        // What a host downloads from the release verifies: the signature, then every file SHA256SUMS lists
        // but the .debs (in the apt repository, not the release).
        const downloaded = path.join(scratch, 'downloaded');
        fs.mkdirSync(downloaded);
        for (const f of files) fs.writeFileSync(path.join(downloaded, f), body(f));
        const verified = await execa(
          'sh',
          ['-c', 'gpgv --keyring ./ephemeral-builder-archive-keyring.gpg SHA256SUMS.asc SHA256SUMS && sha256sum --strict --ignore-missing -c SHA256SUMS'],
          { cwd: downloaded, reject: false, all: true },
        );
        expect(verified.exitCode, String(verified.all)).toBe(0);
        expect(
          String(verified.all)
            .split('\n')
            .filter((l) => l.endsWith(': OK'))
            .map((l) => l.replace(/: OK$/, ''))
            .sort(),
        ).toEqual(files.filter((f) => !/^SHA256SUMS|keyring/.test(f)).sort());
        const release = JSON.parse(api.requests.at(-1)!.body.toString()) as {
          tag_name: string;
          name: string;
          description: string;
          assets: { links: Array<{ name: string; url: string; link_type: string }> };
        };
        expect(release.tag_name).toBe('v1.2.3');
        expect(release.name).toBe('ephemeral-builder 1.2.3');
        expect(release.description).toContain('gpgv --keyring ./ephemeral-builder-archive-keyring.gpg SHA256SUMS.asc SHA256SUMS');
        expect(release.description).toContain("download ephemeral-builder-1.2.3-ARCH.tar.zst for the host's architecture");
        expect(release.assets.links).toEqual([
          ...files.map((f) => ({
            name: f,
            url: `${api.url}/projects/42/packages/generic/ephemeral-builder/1.2.3/${f}`,
            link_type: f.endsWith('.tar.zst') ? 'package' : 'other',
          })),
          { name: 'apt repository', url: server.url, link_type: 'other' },
        ]);
      } finally {
        await api.close();
      }
    });

    it('release uploads nothing for a release missing a file of one architecture, or holding files other than the ones SHA256SUMS signed; an existing release is refused with what to do', async () => {
      const api = await gitlabApi({ release: 409 });
      try {
        const env = {
          ...BOTH,
          PACKAGE_NAME: 'ephemeral-builder',
          VERSION: '1.2.3',
          CI_COMMIT_TAG: 'v1.2.3',
          CI_API_V4_URL: api.url,
          CI_PROJECT_ID: '42',
          CI_JOB_TOKEN: 'job-token-1',
        };
        // The release job's working copy: out/ARCH from the build jobs, out/SHA256SUMS(.asc) and public/ from pages.
        const dir = path.join(scratch, 'release-job');
        for (const arch of ['amd64', 'arm64']) fs.cpSync(artifacts(`build: [${arch}]`, 'out'), path.join(dir, 'out'), { recursive: true });
        for (const f of ['SHA256SUMS', 'SHA256SUMS.asc']) fs.copyFileSync(artifacts('pages', 'out', f), path.join(dir, 'out', f));
        fs.cpSync(artifacts('pages', 'public'), path.join(dir, 'public'), { recursive: true });
        const run = async (file: string, args: string[]) => {
          const r = await execa('sh', [path.join(REPO, 'scripts/ci', file), ...args], { cwd: dir, reject: false, env: { PATH: BIN_PATH, ...env } });
          return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
        };
        const sbom = path.join(dir, 'out/arm64/ephemeral-builder-1.2.3-arm64.cdx.json');
        const kept = fs.readFileSync(sbom);
        fs.rmSync(sbom);
        const incomplete = await run('upload-release-files.sh', []);
        expect(incomplete.exitCode).toBe(1);
        expect(incomplete.stderr).toContain('release-env: out/arm64/ephemeral-builder-1.2.3-arm64.cdx.json is missing');
        expect(incomplete.stderr).toContain('upload-release-files: not releasing ephemeral-builder 1.2.3: nothing was uploaded');
        // An SBOM other than the one signed: the build's own SHA256SUMS catches it, and made to match, the signed one does.
        fs.writeFileSync(sbom, Buffer.concat([kept, Buffer.from(' ')]));
        const changed = await run('upload-release-files.sh', []);
        expect(changed.exitCode).toBe(1);
        expect(changed.stderr).toContain('release-env: out/arm64/SHA256SUMS does not verify');
        const sums = path.join(dir, 'out/arm64/SHA256SUMS');
        const keptSums = fs.readFileSync(sums);
        fs.writeFileSync(
          sums,
          `${(await execa('sh', ['-c', 'sha256sum -- *.tar.zst *.deb *.cdx.json install.sh manifest.json'], { cwd: path.dirname(sums) })).stdout}\n`,
        );
        const resummed = await run('upload-release-files.sh', []);
        expect(resummed.exitCode).toBe(1);
        expect(resummed.stderr).toContain(
          "release-set: out/SHA256SUMS is not the release's (the files differ from the ones it lists, or it lists other ones): it is the one the pages job signed",
        );
        fs.writeFileSync(sbom, kept);
        fs.writeFileSync(sums, keptSums);
        expect(api.requests).toEqual([]);

        const uploaded = await run('upload-release-files.sh', []);
        expect(uploaded.exitCode, uploaded.stderr).toBe(0);
        expect(uploaded.stdout.split('\n')).toHaveLength(11);
        const made = await run('create-release.sh', uploaded.stdout.split('\n'));
        expect(made.exitCode).toBe(1);
        expect(made.stderr).toContain(
          'create-release: the release v1.2.3 exists already (HTTP 409: {"message":"Release already exists"}); delete it (Deploy > Releases) and run this job again',
        );
      } finally {
        await api.close();
      }
    });

    /** Local mirror directories for `outdated` (through EB_OUTDATED_FLAGS): every package of the manifest at its version, but `bumped`. */
    function mirrorFor(manifestFile: string, name: string, bumped: FixturePackage[] = []): Record<string, string> {
      const root = path.join(scratch, name);
      const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { image: { packages: FixturePackage[] } };
      writeFixtureSuite(path.join(root, 'debian'), 'trixie', m.image.packages, { codename: 'trixie' });
      writeFixtureSuite(path.join(root, 'debian'), 'trixie-updates', [], { codename: 'trixie-updates' });
      writeFixtureSuite(path.join(root, 'debian-security'), 'trixie-security', bumped, { codename: 'trixie-security' });
      return {
        EB_OUTDATED_FLAGS: `--rewrite http://deb.debian.org/debian=file://${root}/debian --rewrite http://deb.debian.org/debian-security=file://${root}/debian-security`,
      };
    }

    it('the schedule, nothing behind: rebuild builds nothing, pages signs the served repository again (pruned to APT_KEEP, its manifest kept), release makes none', async () => {
      // The site as the tag's pages job deployed it (the job's own artifacts are replaced when it runs again).
      const deployed = path.join(scratch, 'deployed');
      fs.cpSync(artifacts('pages', 'public'), deployed, { recursive: true });
      expect(JSON.parse(fs.readFileSync(path.join(deployed, 'manifest.json'), 'utf8')).version).toBe('1.2.3');
      // The tag pipeline's build is no part of a schedule's pipeline.
      for (const arch of ['amd64', 'arm64']) fs.rmSync(artifacts(`build: [${arch}]`), { recursive: true, force: true });
      const served = await serveDirectory(deployed);
      const before = parseParagraphs(fs.readFileSync(path.join(deployed, 'dists/stable/Release'), 'utf8'))[0]!;
      const api = await gitlabApi();
      try {
        const vars = {
          ...RESIGN_SCHEDULE,
          APT_REPO_URL: served.url,
          CI_PAGES_URL: served.url,
          APT_KEEP: '1',
          APT_VALID_FOR: '30d',
          RECIPE: 'recipes/minimal.ts',
        };
        const check = await job('rebuild', { ...vars, ...mirrorFor(path.join(deployed, 'manifest.json'), 'mirror-current') });
        expect(check.exitCode, check.all.slice(-6000)).toBe(0);
        expect(check.all).toContain('ephemeral-builder 1.2.3: nothing behind (trixie, trixie-updates, trixie-security)');
        expect(check.all).not.toMatch(/bootstrap: start/);
        // ARCHITECTURES is amd64 (the default): rebuild: [arm64] ends at once.
        expect(fs.readFileSync(artifacts('rebuild: [amd64]', '.gitlab-ci-reports/dotenv/release.env'), 'utf8')).toBe('REBUILD=no\n');
        expect(check.all).toContain('arm64 is not in ARCHITECTURES (amd64): this job builds nothing');

        const r = await job('pages', vars);
        expect(r.exitCode, r.all.slice(-6000)).toBe(0);
        expect(r.all).toContain('no new release (a schedule that found nothing behind): signing the served repository again');
        expect(r.all).toMatch(/pruned ephemeral-builder 1\.0\.0: pool\/main\/e\/ephemeral-builder\/ephemeral-builder_1\.0\.0_amd64\.deb/);
        await expectKeyGone(r.all);
        const pub = artifacts('pages', 'public');
        const [release] = parseParagraphs(fs.readFileSync(path.join(pub, 'dists/stable/Release'), 'utf8'));
        expect(Date.parse(field(release!, 'Date')!)).toBeGreaterThanOrEqual(Date.parse(field(before, 'Date')!));
        expect((Date.parse(field(release!, 'Valid-Until')!) - Date.parse(field(release!, 'Date')!)) / 1000).toBe(30 * 86400);
        const packages = parseParagraphs(fs.readFileSync(path.join(pub, 'dists/stable/main/binary-amd64/Packages'), 'utf8'));
        expect(packages.map((p) => `${field(p, 'Package')} ${field(p, 'Version')}`).sort()).toEqual([
          'ephemeral-builder 1.2.3',
          'ephemeral-builder-archive-keyring 1',
          'ephemeral-builder-image-1.2.3 1.2.3',
        ]);
        expect(fs.existsSync(path.join(pub, 'pool/main/e/ephemeral-builder/ephemeral-builder_1.0.0_amd64.deb'))).toBe(false);
        expect(fs.readFileSync(path.join(pub, 'manifest.json'), 'utf8')).toBe(fs.readFileSync(path.join(deployed, 'manifest.json'), 'utf8'));
        const verify = await execa('gpgv', ['--keyring', path.join(pub, 'ephemeral-builder-archive-keyring.gpg'), path.join(pub, 'dists/stable/InRelease')], {
          reject: false,
          all: true,
        });
        expect(verify.exitCode, String(verify.all)).toBe(0);

        const none = await job('release', { ...vars, CI_API_V4_URL: api.url, CI_PROJECT_ID: '42', CI_JOB_TOKEN: 'job-token-1' });
        expect(none.exitCode, none.all.slice(-3000)).toBe(0);
        expect(none.all).toContain('release: nothing was rebuilt, no release');
        expect(api.requests).toEqual([]);
      } finally {
        await served.close();
        await api.close();
      }
    });

    it('the schedule, a security fix behind: rebuild builds the next patch version from an empty cache, pages publishes it, release makes it with the diff as its notes', async () => {
      // The site as the schedule's pages job left it: 1.2.3, its manifest, signed again.
      const deployed = path.join(scratch, 'deployed-again');
      fs.cpSync(artifacts('pages', 'public'), deployed, { recursive: true });
      const previous = JSON.parse(fs.readFileSync(path.join(deployed, 'manifest.json'), 'utf8')) as { image: { packages: FixturePackage[] } };
      const libc = previous.image.packages.find((p) => p.name === 'libc6')!;
      const served = await serveDirectory(deployed);
      const api = await gitlabApi();
      try {
        const vars = {
          ...RESIGN_SCHEDULE,
          APT_REPO_URL: served.url,
          CI_PAGES_URL: served.url,
          RECIPE: 'recipes/minimal.ts',
          EB_BUILD_FLAGS: '--fast',
          CI_COMMIT_SHA: 'a'.repeat(40),
        };
        const mirror = mirrorFor(path.join(deployed, 'manifest.json'), 'mirror-behind', [{ name: 'libc6', version: `${libc.version}+security1` }]);
        const rebuilt = await job('rebuild', { ...vars, ...mirror });
        expect(rebuilt.exitCode, rebuilt.all.slice(-6000)).toBe(0);
        expect(rebuilt.all).toMatch(/building recipes\/minimal\.ts as 1\.2\.4 for amd64 from an empty cache/);
        const dotenv = fs.readFileSync(artifacts('rebuild: [amd64]', '.gitlab-ci-reports/dotenv/release.env'), 'utf8');
        expect(dotenv).toContain('VERSION=1.2.4\n');
        expect(dotenv).toMatch(/REBUILD=yes\n$/);
        const notes = fs.readFileSync(artifacts('rebuild: [amd64]', 'out', 'amd64', 'release-notes.md'), 'utf8');
        expect(notes).toMatch(
          new RegExp(`^libc6 +${libc.version.replace(/[+.]/g, '\\$&')} +${libc.version.replace(/[+.]/g, '\\$&')}\\+security1 +trixie-security +SECURITY$`, 'm'),
        );
        expect(notes).toContain('## ephemeral-builder 1.2.3 → 1.2.4\n');

        const published = await job('pages', vars);
        expect(published.exitCode, published.all.slice(-6000)).toBe(0);
        const pub = artifacts('pages', 'public');
        const packages = parseParagraphs(fs.readFileSync(path.join(pub, 'dists/stable/main/binary-amd64/Packages'), 'utf8'));
        expect(packages.map((p) => `${field(p, 'Package')} ${field(p, 'Version')}`)).toContain('ephemeral-builder 1.2.4');
        expect(JSON.parse(fs.readFileSync(path.join(pub, 'manifest.json'), 'utf8')).version).toBe('1.2.4');

        const made = await job('release', { ...vars, CI_API_V4_URL: api.url, CI_PROJECT_ID: '42', CI_JOB_TOKEN: 'job-token-1' });
        expect(made.exitCode, made.all.slice(-3000)).toBe(0);
        const release = JSON.parse(api.requests.at(-1)!.body.toString()) as { tag_name: string; ref: string; description: string };
        expect(release.tag_name).toBe('v1.2.4');
        expect(release.ref).toBe('a'.repeat(40));
        expect(release.description.startsWith(notes.trimEnd())).toBe(true);
      } finally {
        await served.close();
        await api.close();
      }
    });

    it('fetch-apt-repo.sh copies a served repository exactly, and starts empty where there is none', async () => {
      const copy = path.join(scratch, 'copy');
      const r = await script('fetch-apt-repo.sh', [server.url, copy, 'stable', path.join(site, 'ephemeral-builder-archive-keyring.gpg')]);
      expect(r.exitCode, r.all).toBe(0);
      const listing = (dir: string) =>
        fs
          .readdirSync(dir, { recursive: true, encoding: 'utf8' })
          .filter((f) => fs.statSync(path.join(dir, f)).isFile())
          .sort();
      // The keyring and .sources are rewritten by every publish; everything apt reads is copied.
      expect(listing(copy)).toEqual(listing(site).filter((f) => !/^ephemeral-builder[^/]*$/.test(f)));
      for (const f of listing(copy)) expect(sha256(path.join(copy, f)), f).toBe(sha256(path.join(site, f)));

      const none = path.join(scratch, 'none');
      const empty = await script('fetch-apt-repo.sh', [`${server.url}no-such-site/`, none]);
      expect(empty.exitCode, empty.all).toBe(0);
      expect(empty.all).toContain('HTTP 404); starting a new one');
      expect(fs.readdirSync(none)).toEqual([]);
    });

    it('fetch-apt-repo.sh refuses a site signed by another key, accepts one signed by any key given, and refuses a pool file that does not match its index', async () => {
      const other = await makeSigningKey('someone else <other@example.invalid>');
      try {
        const otherKeyring = path.join(scratch, 'other.gpg');
        fs.writeFileSync(
          otherKeyring,
          (await execa('gpg', ['--batch', '--homedir', other.gnupgHome, '--export', other.fingerprint], { encoding: 'buffer', stripFinalNewline: false }))
            .stdout,
        );
        const r = await script('fetch-apt-repo.sh', [server.url, path.join(scratch, 'wrong-key'), 'stable', otherKeyring]);
        expect(r.exitCode).toBe(1);
        expect(r.all).toMatch(/Release is not signed by a key in /);
        // After a rotation the site is still signed by the previous key, given as a second keyring.
        const both = await script('fetch-apt-repo.sh', [
          server.url,
          path.join(scratch, 'either-key'),
          'stable',
          otherKeyring,
          path.join(site, 'ephemeral-builder-archive-keyring.gpg'),
        ]);
        expect(both.exitCode, both.all).toBe(0);
      } finally {
        await other.dispose();
      }
      const tampered = path.join(scratch, 'tampered-site');
      fs.cpSync(site, tampered, { recursive: true });
      const entries = parseParagraphs(fs.readFileSync(path.join(tampered, 'dists/stable/main/binary-amd64/Packages'), 'utf8'));
      const entry = entries.find((p) => field(p, 'Package') === 'ephemeral-builder')!;
      fs.appendFileSync(path.join(tampered, field(entry, 'Filename')!), 'x');
      const tamperedServer = await serveDirectory(tampered);
      try {
        const r = await script('fetch-apt-repo.sh', [tamperedServer.url, path.join(scratch, 'tampered-copy'), 'stable']);
        expect(r.exitCode).toBe(1);
        expect(r.all).toMatch(/pool\/main\/e\/ephemeral-builder\/ephemeral-builder_1\.0\.0_amd64\.deb does not match its index \(sha256 /);
      } finally {
        await tamperedServer.close();
      }
    });
  },
);
