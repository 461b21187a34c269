// recipes/company.ts, the example of an image that is patched and customized, built for real: its
// company repository is a signed apt repository made here with the project's own `publish` and
// served over HTTP, its key an ASCII-armored export pinned by fingerprint, and its build-time step
// (the company CA through update-ca-certificates) runs in the image. Checked in the image .deb a
// host gets: the repository's package, the CA in the system bundle, the deb822 sources with their
// keys (and apt inside the image accepts them), and the manifest's sources. Then what must not
// happen: a non-reproducible rebuild, a changed step rebuilding the bootstrap, a failing step
// leaving anything behind, a step reaching the network it did not ask for, and a tampered InRelease,
// a wrong key or a wrong fingerprint getting past the resolve.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { publish } from '../../pipeline/publish/publish.ts';
import { runInTree } from '../../pipeline/util/nspawn-run.ts';
import { ToolRunner } from '../../pipeline/util/exec.ts';
import { buildFixtureDeb } from '../e2e/harness/fixture-deb.ts';
import { makeSigningKey, type SigningKey } from '../e2e/harness/gpg-key.ts';
import { runCli, tempDir, type CliResult } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { serveDirectory, type StaticServer } from '../helpers/http-server.ts';
import { REPO, TEST_CACHE } from '../helpers/paths.ts';

const RECIPE = path.join(REPO, 'recipes/company.ts');
const CA = fs.readFileSync(path.join(REPO, 'recipes/company/company-root-ca.crt'), 'utf8');
const HELLO = '#!/bin/sh\necho "hello from company-tools"\n';

interface Built {
  out: string;
  result: CliResult;
  sums: string;
  manifest: Manifest;
}
interface Manifest {
  image: { treeDigest: string; packages: { name: string; version: string }[] };
  sources: { name: string; uri: string; suite: string; inReleaseSha256: string; fingerprints?: string[] }[];
  stages: { stage: string; key: string }[];
}

describeWith(
  { root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'ssh', 'gpg', 'gpgv', 'dpkg-deb'] },
  'build recipes/company.ts (extra repository, build-time step, security suites)',
  () => {
    const work = tempDir('company');
    let key: SigningKey;
    let otherKey: SigningKey;
    let server: StaticServer;
    let tamperedServer: StaticServer;
    let env: Record<string, string>;
    let first: Built;

    // Recipes that extend the example, in a directory where its relative paths (company/…) resolve
    // as they do next to it: a recipe's files are read relative to the recipe being built.
    const variants = path.join(work, 'variants');
    const variant = (name: string, body: string) => {
      fs.mkdirSync(variants, { recursive: true });
      if (!fs.existsSync(path.join(variants, 'company'))) fs.symlinkSync(path.join(REPO, 'recipes/company'), path.join(variants, 'company'));
      const file = path.join(variants, `${name}.ts`);
      fs.writeFileSync(file, `import company from ${JSON.stringify(RECIPE)};\nexport default { ...company, ${body} };\n`);
      return file;
    };
    const build = async (args: string[], extraEnv: Record<string, string> = {}) => runCli(['build', RECIPE, ...args], { env: { ...env, ...extraEnv } });
    const fullBuild = async (name: string, extra: string[] = []): Promise<Built> => {
      const out = path.join(work, name);
      const result = await build(['--fast', '--out', out, '--cache-dir', TEST_CACHE, ...extra]);
      if (result.exitCode !== 0) throw new Error(`build failed (${result.exitCode}):\n${result.stderr}`);
      return {
        out,
        result,
        sums: fs.readFileSync(path.join(out, 'SHA256SUMS'), 'utf8'),
        manifest: JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Manifest,
      };
    };
    const armored = (k: SigningKey, file: string) =>
      execa('sh', ['-c', `gpg --batch --homedir "$1" --armor --export "$2" > "$3"`, 'sh', k.gnupgHome, k.fingerprint, file]);

    beforeAll(async () => {
      key = await makeSigningKey('Example Company archive <apt@company.example>');
      otherKey = await makeSigningKey('Someone else <else@example.invalid>');
      const deb = await buildFixtureDeb(path.join(work, 'debs'), {
        name: 'company-tools',
        version: '1.0',
        files: { '/usr/bin/company-hello': HELLO },
        executables: ['/usr/bin/company-hello'],
      });
      const repo = path.join(work, 'repo');
      await publish({ repoDir: repo, suite: 'stable', debs: [deb], gnupgHome: key.gnupgHome });
      server = await serveDirectory(repo);
      // The same repository with one byte of its signed InRelease changed (a hash of Packages).
      const tampered = path.join(work, 'tampered');
      fs.cpSync(repo, tampered, { recursive: true });
      const inRelease = path.join(tampered, 'dists/stable/InRelease');
      fs.writeFileSync(
        inRelease,
        fs.readFileSync(inRelease, 'utf8').replace(/^( [0-9a-f]{63})[0-9a-f]/m, (_, head: string) => `${head}0`),
      );
      tamperedServer = await serveDirectory(tampered);
      await armored(key, path.join(work, 'company.asc'));
      await armored(otherKey, path.join(work, 'other.asc'));
      env = { COMPANY_APT_URL: server.url, COMPANY_APT_KEY: path.join(work, 'company.asc'), COMPANY_APT_FINGERPRINT: key.fingerprint };
      first = await fullBuild('first');
    });

    afterAll(async () => {
      await server?.close();
      await tamperedServer?.close();
      await key?.dispose();
      await otherKey?.dispose();
      fs.rmSync(work, { recursive: true, force: true });
    });

    /** The image as a host gets it: the image .deb's tree. */
    const imageTree = async (built: Built): Promise<string> => {
      const deb = fs.readdirSync(built.out).find((f) => /-image-.*\.deb$/.test(f));
      const dir = path.join(work, `${path.basename(built.out)}-deb`);
      if (!fs.existsSync(dir)) await execa('dpkg-deb', ['-x', path.join(built.out, deb as string), dir]);
      return path.join(dir, 'usr/lib/company-builder/images/1.0.0');
    };

    it("installs the company repository's package, verified by its key", async () => {
      const root = await imageTree(first);
      expect(fs.readFileSync(path.join(root, 'usr/bin/company-hello'), 'utf8')).toBe(HELLO);
      expect(first.manifest.image.packages).toContainEqual(expect.objectContaining({ name: 'company-tools', version: '1.0' }));
      // What the manifest records: every source with the InRelease it was built from.
      const served = createHash('sha256')
        .update(fs.readFileSync(path.join(work, 'repo/dists/stable/InRelease')))
        .digest('hex');
      expect(first.manifest.sources.map((s) => `${s.name} ${s.suite}`)).toEqual([
        'debian trixie',
        'debian-updates trixie-updates',
        'debian-security trixie-security',
        'company stable',
      ]);
      expect(first.manifest.sources[3]).toMatchObject({ uri: server.url, inReleaseSha256: served, fingerprints: [key.fingerprint] });
    });

    it('ran the build-time step: the company CA is in the system bundle', async () => {
      const root = await imageTree(first);
      const body = CA.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
      expect(fs.readFileSync(path.join(root, 'etc/ssl/certs/ca-certificates.crt'), 'utf8').replace(/\s+/g, '')).toContain(body);
      expect(fs.readlinkSync(path.join(root, 'etc/ssl/certs/company-root-ca.pem'))).toBe('/usr/local/share/ca-certificates/company-root-ca.crt');
      expect(first.result.stderr).toMatch(/steps: 1\/1 company-ca/);
    });

    it('carries deb822 sources and keys that apt inside the image accepts', async () => {
      const root = await imageTree(first);
      expect(fs.existsSync(path.join(root, 'etc/apt/sources.list'))).toBe(false);
      expect(fs.readdirSync(path.join(root, 'etc/apt/sources.list.d')).sort()).toEqual(['company.sources', 'debian.sources']);
      const debian = fs.readFileSync(path.join(root, 'etc/apt/sources.list.d/debian.sources'), 'utf8');
      expect(debian).toContain(
        'URIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
      );
      expect(debian).toContain('URIs: http://deb.debian.org/debian-security\nSuites: trixie-security\n');
      expect(fs.readFileSync(path.join(root, 'etc/apt/sources.list.d/company.sources'), 'utf8')).toContain(
        `URIs: ${server.url}\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/company.gpg\n`,
      );
      const shown = await execa('gpg', ['--batch', '--homedir', work, '--show-keys', '--with-colons', path.join(root, 'etc/apt/keyrings/company.gpg')]);
      expect(shown.stdout).toContain(`fpr:::::::::${key.fingerprint}:`);
      // apt in the image (sqv on trixie) fetches every source and checks each signature with the
      // image's own keyrings: a bad Signed-By or an armored keyring would fail here.
      const tools = new ToolRunner(path.join(work, 'apt.log'), () => {}, new AbortController().signal);
      const r = await runInTree(tools, root, ['apt-get', 'update', '-q', '-o', 'APT::Update::Error-Mode=any'], { network: true });
      expect(r.exitCode).toBe(0);
      const log = fs.readFileSync(path.join(work, 'apt.log'), 'utf8');
      expect(log).toContain(` ${server.url.replace(/\/$/, '')} stable InRelease`);
      expect(log).toMatch(/trixie-security InRelease/);
    });

    it('is reproducible: a --no-cache build of the same sources gives byte-identical artifacts', async () => {
      let second = await fullBuild('second', ['--no-cache']);
      // A Debian suite that published between the two builds changes the sources, not a bug: build
      // the pair again once on the new state.
      if (second.manifest.stages[0]?.key !== first.manifest.stages[0]?.key) {
        first = await fullBuild('first-again');
        second = await fullBuild('second-again', ['--no-cache']);
      }
      expect(second.manifest.image.treeDigest).toBe(first.manifest.image.treeDigest);
      expect(second.sums).toBe(first.sums);
    });

    it('a changed step reruns the steps on the cached bootstrap', async () => {
      const recipe = variant('motd', `steps: [...company.steps, { name: 'motd', script: 'echo company > /etc/motd' }]`);
      const out = path.join(work, 'variant-out');
      const r = await runCli(['build', recipe, '--stop-after', 'steps', '--out', out, '--cache-dir', TEST_CACHE], { env });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/bootstrap: cached/);
      expect(r.stderr).toMatch(/steps: built/);
      expect(fs.readFileSync(path.join(out, 'rootfs/etc/motd'), 'utf8')).toBe('company\n');
    });

    it('a failing step stops the build with its name, exit status and output, and leaves nothing behind', async () => {
      const recipe = variant(
        'failing',
        `steps: [...company.steps, { name: 'tool-install', script: 'echo fetching the tool; echo "tool: not found" >&2; exit 7' }]`,
      );
      const out = path.join(work, 'failing-out');
      const args = [recipe, '--out', out, '--cache-dir', TEST_CACHE];
      const r = await runCli(['build', ...args], { env });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('step "tool-install" (steps[1]) failed with exit code 7');
      expect(r.stderr).toContain('tool: not found');
      expect(r.stderr).toContain('it has no network unless it sets network: true');
      expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
      const plan = await runCli(['build', ...args, '--dry-run'], { env });
      expect(plan.stdout).toMatch(/^steps\t[0-9a-f]{64}\tmiss$/m);
    });

    it("gives the build machine's network only to a step that asks for it", async () => {
      // A listener on this machine's loopback: reachable from the shared network namespace only.
      const listener = net.createServer((s) => s.end('hi\n'));
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      const port = (listener.address() as net.AddressInfo).port;
      try {
        const probe = `exec 3<>/dev/tcp/127.0.0.1/${port} && read -r line <&3 && echo "got $line" > /etc/probe`;
        const results: Record<string, number> = {};
        for (const network of [true, false]) {
          const recipe = variant(`net-${network}`, `steps: [{ name: 'probe', network: ${network}, run: ['bash', '-c', ${JSON.stringify(probe)}] }]`);
          const r = await runCli(['build', recipe, '--stop-after', 'steps', '--out', path.join(work, `net-${network}-out`), '--cache-dir', TEST_CACHE], {
            env,
          });
          results[String(network)] = r.exitCode;
        }
        expect(results).toEqual({ true: 0, false: 1 });
        expect(fs.readFileSync(path.join(work, 'net-true-out/rootfs/etc/probe'), 'utf8')).toBe('got hi\n');
      } finally {
        listener.close();
      }
    });

    /** The resolve refuses before any download: nothing new in out/ or any cache directory. */
    const refused = async (extraEnv: Record<string, string>) => {
      const out = path.join(work, `refused-${Object.keys(extraEnv).join('-')}`);
      const cacheDir = tempDir('company-refused');
      try {
        const r = await build(['--out', out, '--cache-dir', cacheDir], extraEnv);
        expect(fs.existsSync(out)).toBe(false);
        expect(fs.readdirSync(cacheDir).filter((d) => d !== 'indexes')).toEqual([]);
        return r;
      } finally {
        fs.rmSync(cacheDir, { recursive: true, force: true });
      }
    };

    it('refuses a tampered InRelease, naming the repository', async () => {
      const r = await refused({ COMPANY_APT_URL: tamperedServer.url });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(
        `repositories[0] (company): ${tamperedServer.url}dists/stable/InRelease is not signed by the key in ${path.join(work, 'company.asc')} (`,
      );
      expect(r.stderr).toMatch(/BAD signature/);
    });

    it("refuses a repository signed by another key than the recipe's", async () => {
      const r = await refused({ COMPANY_APT_KEY: path.join(work, 'other.asc'), COMPANY_APT_FINGERPRINT: otherKey.fingerprint });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(`repositories[0] (company): ${server.url}dists/stable/InRelease is not signed by the key in ${path.join(work, 'other.asc')}`);
    });

    it('refuses a key file without the pinned fingerprint', async () => {
      const r = await refused({ COMPANY_APT_FINGERPRINT: otherKey.fingerprint });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(
        `repositories[0].fingerprint: ${path.join(work, 'company.asc')} holds ${key.fingerprint}, not the pinned fingerprint ${otherKey.fingerprint}`,
      );
    });

    it('refuses a repository whose InRelease has expired, naming it, before anything is built', async () => {
      const stale = path.join(work, 'stale');
      await publish({
        repoDir: stale,
        suite: 'stable',
        debs: fs.readdirSync(path.join(work, 'debs')).map((f) => path.join(work, 'debs', f)),
        gnupgHome: key.gnupgHome,
        date: Math.floor(Date.now() / 1000) - 30 * 86400,
        validFor: 86400,
      });
      const staleServer = await serveDirectory(stale);
      try {
        const r = await refused({ COMPANY_APT_URL: staleServer.url });
        expect(r.exitCode).toBe(2);
        expect(r.stderr).toContain(`repositories[0] (company): ${staleServer.url}dists/stable/InRelease expired on `);
        expect(r.stderr).toContain('(its Valid-Until), and apt refuses an expired suite; its owner must sign it again');
      } finally {
        await staleServer.close();
      }
    });

    it('takes a binary key file as well as an armored one', async () => {
      const r = await build(['--dry-run', '--cache-dir', TEST_CACHE], { COMPANY_APT_KEY: path.join(work, 'repo/company-tools-archive-keyring.gpg') });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^bootstrap\t[0-9a-f]{64}\thit$/m);
    });
  },
);
