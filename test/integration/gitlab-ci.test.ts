// The release pipeline (.gitlab-ci.yml) run for real by gitlab-ci-local, shell executor with
// --shell-isolation (each job in its own copy of the tracked files, artifacts and dotenv handed on
// as GitLab does), in a temporary git working copy of this repository:
//   - the job list and the tag rules;
//   - `build` for recipes/minimal.ts on tag v1.2.3: the .debs, tarball, install.sh, SHA256SUMS
//     and manifest it leaves, and the dotenv the later jobs read; a non-semver tag is refused;
//   - `pages` with a throwaway signing key: the repository the "site" already serves (a previous
//     release, on a loopback HTTP server) is carried over and the new packages added, signed;
//   - the scripts the jobs call (tag → version, copying the served repository, release uploads)
//     against their failure modes.
// The `test` job is not run here (it would run this suite inside itself), and `release` needs a
// GitLab API and release-cli; its upload script runs against a local stand-in for the API.
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
import { makeSigningKey, type SigningKey } from '../e2e/harness/gpg-key.ts';
import { tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { serveDirectory, type StaticServer } from '../helpers/http-server.ts';
import { REPO, TEST_CACHE } from '../helpers/paths.ts';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const BIN_PATH = `${path.join(REPO, 'node_modules/.bin')}:${process.env.PATH ?? ''}`;

interface Run { exitCode: number; all: string }

describeWith({ root: true, tools: ['git', 'rsync', 'curl', 'gpg', 'gpgv', 'sha256sum', 'dpkg-deb', 'mmdebstrap', 'systemd-nspawn', 'ssh'] },
  '.gitlab-ci.yml run by gitlab-ci-local', () => {
    let work: string;
    let scratch: string;
    let key: SigningKey;
    let secretKeyFile: string;
    let site: string;
    let server: StaticServer;
    let previousDeb: string;

    /** gitlab-ci-local from node_modules (it needs Node >= 22: node_modules/.bin/node is 24). */
    async function gcl(args: string[]): Promise<Run> {
      const r = await execa('gitlab-ci-local', args, {
        cwd: work, reject: false, all: true, stdin: 'ignore', env: { PATH: BIN_PATH }, timeout: 20 * 60_000,
      });
      return { exitCode: r.exitCode ?? -1, all: r.exitCode === undefined ? `${r.shortMessage}\n${String(r.all)}` : String(r.all) };
    }
    const job = (name: string, vars: Record<string, string>) =>
      gcl(['--shell-isolation', ...Object.entries(vars).flatMap(([k, v]) => ['--variable', `${k}=${v}`]), name]);
    const script = async (file: string, args: string[], env: Record<string, string> = {}): Promise<Run> => {
      const r = await execa('sh', [path.join(REPO, 'scripts/ci', file), ...args], { cwd: work, reject: false, all: true, stdin: 'ignore', env: { PATH: BIN_PATH, ...env } });
      return { exitCode: r.exitCode ?? -1, all: String(r.all) };
    };
    const artifacts = (jobName: string, ...rel: string[]) => path.join(work, '.gitlab-ci-local/artifacts', jobName, ...rel);

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

      // What the Pages site serves before this release: version 1.0.0 of the host package.
      site = path.join(scratch, 'site');
      previousDeb = await buildFixtureDeb(path.join(scratch, 'debs'), { name: 'ephemeral-builder', version: '1.0.0', architecture: 'amd64' });
      await publish({ repoDir: site, gnupgHome: key.gnupgHome, debs: [previousDeb], date: 1_700_000_000 });
      server = await serveDirectory(site);
    });

    afterAll(async () => {
      await server?.close();
      await key?.dispose();
      for (const dir of [work, scratch]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('lists every job in its stage; build, pages and release only run for a tag', async () => {
      const plain = await gcl(['--list-csv-all']);
      expect(plain.exitCode, plain.all).toBe(0);
      expect(plain.all).toMatch(/^test;test;on_success;false;;$/m);
      expect(plain.all).toMatch(/^build;build;never;/m);
      expect(plain.all).toMatch(/^pages;publish;never;false;;\[build\]$/m);
      expect(plain.all).toMatch(/^release;release;never;false;;\[build,pages\]$/m);
      const tagged = await gcl(['--list-csv', '--variable', 'CI_COMMIT_TAG=v1.2.3']);
      expect(tagged.exitCode, tagged.all).toBe(0);
      const rows = tagged.all.split('\n').filter((l) => /^[a-z]+;/.test(l) && !l.startsWith('name;')).map((l) => l.split(';').slice(0, 3).join(';'));
      expect(rows).toEqual(['test;test;on_success', 'build;build;on_success', 'pages;publish;on_success', 'release;release;on_success']);
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
      const r = await job('build', { CI_COMMIT_TAG: 'release-5', RECIPE: 'recipes/minimal.ts', EB_CACHE_DIR: TEST_CACHE });
      expect(r.exitCode, r.all).not.toBe(0);
      expect(r.all).toContain("version-from-tag: tag 'release-5' is not a semantic version");
      expect(r.all).not.toMatch(/bootstrap: start/);
      expect(fs.existsSync(artifacts('build', 'out'))).toBe(false);
    });

    it('build on tag v1.2.3 leaves the release artifacts of recipes/minimal.ts and the dotenv', async () => {
      const r = await job('build', { CI_COMMIT_TAG: 'v1.2.3', RECIPE: 'recipes/minimal.ts', EB_CACHE_DIR: TEST_CACHE, EB_BUILD_FLAGS: '--fast' });
      expect(r.exitCode, r.all.slice(-6000)).toBe(0);
      const out = artifacts('build', 'out');
      expect(fs.readdirSync(out).sort()).toEqual([
        'SHA256SUMS',
        'ephemeral-builder-1.2.3-amd64.tar.zst',
        'ephemeral-builder-image-1.2.3_1.2.3_amd64.deb',
        'ephemeral-builder_1.2.3_amd64.deb',
        'install.sh',
        'manifest.json',
      ]);
      const check = await execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: out, reject: false, all: true });
      expect(check.exitCode, String(check.all)).toBe(0);
      expect(String(check.all).split('\n').filter((l) => l.endsWith(': OK'))).toHaveLength(5);
      const version = await execa('dpkg-deb', ['--field', path.join(out, 'ephemeral-builder_1.2.3_amd64.deb'), 'Package', 'Version']);
      expect(version.stdout).toBe('Package: ephemeral-builder\nVersion: 1.2.3');
      const dotenv = fs.readFileSync(artifacts('build', '.gitlab-ci-reports/dotenv/release.env'), 'utf8');
      expect(dotenv).toBe([
        'VERSION=1.2.3', 'DEB_VERSION=1.2.3', 'PACKAGE_NAME=ephemeral-builder', 'ARCH=amd64',
        'TARBALL=ephemeral-builder-1.2.3-amd64.tar.zst', 'HOST_DEB=ephemeral-builder_1.2.3_amd64.deb',
        'IMAGE_DEB=ephemeral-builder-image-1.2.3_1.2.3_amd64.deb', '',
      ].join('\n'));
    });

    it('pages adds the build to the repository the site serves, keeps 1.0.0, and signs it', async () => {
      const r = await job('pages', {
        CI_COMMIT_TAG: 'v1.2.3', APT_SIGNING_KEY: secretKeyFile, APT_REPO_URL: server.url, CI_PAGES_URL: server.url,
      });
      expect(r.exitCode, r.all.slice(-6000)).toBe(0);
      expect(r.all).toContain('fetch-apt-repo: copied');
      const pub = artifacts('pages', 'public');
      const packages = parseParagraphs(fs.readFileSync(path.join(pub, 'dists/stable/main/binary-amd64/Packages'), 'utf8'));
      expect(packages.map((p) => `${field(p, 'Package')} ${field(p, 'Version')}`).sort()).toEqual([
        'ephemeral-builder 1.0.0', 'ephemeral-builder 1.2.3', 'ephemeral-builder-image-1.2.3 1.2.3',
      ]);
      for (const p of packages) expect(sha256(path.join(pub, field(p, 'Filename')!))).toBe(field(p, 'SHA256'));
      // The earlier release is the very file published before, not a rebuilt look-alike.
      const old = packages.find((p) => field(p, 'Version') === '1.0.0')!;
      expect(sha256(path.join(pub, field(old, 'Filename')!))).toBe(sha256(previousDeb));
      const newHost = packages.find((p) => field(p, 'Package') === 'ephemeral-builder' && field(p, 'Version') === '1.2.3')!;
      expect(field(newHost, 'SHA256')).toBe(sha256(artifacts('build', 'out', 'ephemeral-builder_1.2.3_amd64.deb')));
      // Signed by the CI key, verifiable with the keyring the repository publishes.
      const keyring = path.join(pub, 'ephemeral-builder-archive-keyring.gpg');
      // stripFinalNewline off: execa cuts a last 0x0a byte off binary output too, and a fresh key's
      // export ends in one about once in 256 runs (that is how this check failed in a CI run).
      const exported = await execa('gpg', ['--batch', '--homedir', key.gnupgHome, '--export-options', 'export-minimal', '--export', key.fingerprint], { encoding: 'buffer', stripFinalNewline: false });
      expect(Buffer.compare(fs.readFileSync(keyring), Buffer.from(exported.stdout))).toBe(0);
      const verify = await execa('gpgv', ['--keyring', keyring, path.join(pub, 'dists/stable/InRelease')], { reject: false, all: true });
      expect(verify.exitCode, String(verify.all)).toBe(0);
      expect(fs.readFileSync(path.join(pub, 'ephemeral-builder.sources'), 'utf8')).toMatch(new RegExp(`^URIs: ${server.url.replace(/[.]/g, '\\.')}$`, 'm'));
    });

    it('fetch-apt-repo.sh copies a served repository exactly, and starts empty where there is none', async () => {
      const copy = path.join(scratch, 'copy');
      const r = await script('fetch-apt-repo.sh', [server.url, copy, 'stable', path.join(site, 'ephemeral-builder-archive-keyring.gpg')]);
      expect(r.exitCode, r.all).toBe(0);
      const listing = (dir: string) => fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
      // The keyring and .sources are rewritten by every publish; everything apt reads is copied.
      expect(listing(copy)).toEqual(listing(site).filter((f) => !f.startsWith('ephemeral-builder')));
      for (const f of listing(copy)) expect(sha256(path.join(copy, f)), f).toBe(sha256(path.join(site, f)));

      const none = path.join(scratch, 'none');
      const empty = await script('fetch-apt-repo.sh', [`${server.url}no-such-site/`, none]);
      expect(empty.exitCode, empty.all).toBe(0);
      expect(empty.all).toContain('HTTP 404); starting a new one');
      expect(fs.readdirSync(none)).toEqual([]);
    });

    it('fetch-apt-repo.sh refuses a site signed by another key, and a pool file that does not match its index', async () => {
      const other = await makeSigningKey('someone else <other@example.invalid>');
      try {
        const otherKeyring = path.join(scratch, 'other.gpg');
        fs.writeFileSync(otherKeyring, (await execa('gpg', ['--batch', '--homedir', other.gnupgHome, '--export', other.fingerprint], { encoding: 'buffer', stripFinalNewline: false })).stdout);
        const r = await script('fetch-apt-repo.sh', [server.url, path.join(scratch, 'wrong-key'), 'stable', otherKeyring]);
        expect(r.exitCode).toBe(1);
        expect(r.all).toMatch(/Release is not signed by the key in /);
      } finally {
        await other.dispose();
      }
      const tampered = path.join(scratch, 'tampered-site');
      fs.cpSync(site, tampered, { recursive: true });
      const [entry] = parseParagraphs(fs.readFileSync(path.join(tampered, 'dists/stable/main/binary-amd64/Packages'), 'utf8'));
      fs.appendFileSync(path.join(tampered, field(entry!, 'Filename')!), 'x');
      const tamperedServer = await serveDirectory(tampered);
      try {
        const r = await script('fetch-apt-repo.sh', [tamperedServer.url, path.join(scratch, 'tampered-copy'), 'stable']);
        expect(r.exitCode).toBe(1);
        expect(r.all).toMatch(/pool\/main\/e\/ephemeral-builder\/ephemeral-builder_1\.0\.0_amd64\.deb does not match its index \(sha256 /);
      } finally {
        await tamperedServer.close();
      }
    });

    it('release uploads the tarball, install.sh, SHA256SUMS and the published keyring to the package registry', async () => {
      // A stand-in for GitLab's generic package API: records every upload.
      const uploads: Array<{ method: string; url: string; token: string; body: Buffer }> = [];
      const api = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          uploads.push({ method: req.method ?? '', url: req.url ?? '', token: String(req.headers['job-token'] ?? ''), body: Buffer.concat(chunks) });
          res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"message":"201 Created"}');
        });
      });
      await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
      const port = (api.address() as AddressInfo).port;
      try {
        // The release job gets out/ from build (gitlab-ci-local copied it into the working copy).
        const release = { PACKAGE_NAME: 'ephemeral-builder', VERSION: '1.2.3', TARBALL: 'ephemeral-builder-1.2.3-amd64.tar.zst' };
        const r = await script('upload-release-files.sh', [], {
          ...release, APT_SIGNING_KEY: secretKeyFile, CI_API_V4_URL: `http://127.0.0.1:${port}/api/v4`, CI_PROJECT_ID: '42', CI_JOB_TOKEN: 'job-token-1',
        });
        expect(r.exitCode, r.all).toBe(0);
        const base = '/api/v4/projects/42/packages/generic/ephemeral-builder/1.2.3/';
        expect(uploads.map((u) => `${u.method} ${u.url}`)).toEqual(
          ['ephemeral-builder-1.2.3-amd64.tar.zst', 'install.sh', 'SHA256SUMS', 'ephemeral-builder-archive-keyring.gpg'].map((f) => `PUT ${base}${f}`));
        expect(uploads.every((u) => u.token === 'job-token-1')).toBe(true);
        expect(sha256OfBuffer(uploads[0]!.body)).toBe(sha256(artifacts('build', 'out', release.TARBALL)));
        expect(uploads[2]!.body.toString()).toBe(fs.readFileSync(artifacts('build', 'out', 'SHA256SUMS'), 'utf8'));
        expect(Buffer.compare(uploads[3]!.body, fs.readFileSync(artifacts('pages', 'public', 'ephemeral-builder-archive-keyring.gpg')))).toBe(0);
      } finally {
        api.closeAllConnections();
        await new Promise((resolve) => api.close(resolve));
      }
    });
  });

function sha256OfBuffer(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
