// recipes/minimal.ts for arm64, built on this amd64 machine through qemu-user (binfmt_misc): every
// executable in the image and in the host package is an aarch64 one (a compiled piece built for
// the build machine instead would show here), a GitLab-Runner-style session runs in the emulated
// container as hosts start it (bash -l, its exit status, a read-only /), and one apt repository
// holds the amd64 and the arm64 packages, from which apt inside an arm64 Debian tree (emulated)
// takes the arm64 ones and installs the image package.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { publish } from '../../pipeline/publish/publish.ts';
import { ToolRunner } from '../../pipeline/util/exec.ts';
import { runInTree } from '../../pipeline/util/nspawn-run.ts';
import { layOutHost, runnerScript, runnerSession } from '../../pipeline/verify/session.ts';
import minimal from '../../recipes/minimal.ts';
import { makeSigningKey, type SigningKey } from '../e2e/harness/gpg-key.ts';
import { artifacts } from '../e2e/product/artifacts.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { resolvedRecipe } from '../helpers/recipe.ts';
import { serveDirectory, type StaticServer } from '../helpers/http-server.ts';
import { REPO, TEST_CACHE } from '../helpers/paths.ts';

const EM_AARCH64 = 183;

/** The ELF machine of every ELF file below dir (path relative to dir → e_machine). */
function elfMachines(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const header = Buffer.alloc(20);
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const fd = fs.openSync(p, 'r');
        const n = fs.readSync(fd, header, 0, 20, 0);
        fs.closeSync(fd);
        if (n === 20 && header.readUInt32BE(0) === 0x7f454c46) out.set(path.relative(dir, p), header.readUInt16LE(18));
      }
    }
  };
  walk(dir);
  return out;
}

describeWith({ root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'ssh', 'arch-test', 'dpkg-deb', 'gpg'] }, 'an arm64 image built on amd64', () => {
  const work = tempDir('arm64');
  const out = path.join(work, 'out');
  const unpacked = (deb: string) => path.join(work, `x-${path.basename(deb)}`);
  let debs: string[];
  let key: SigningKey;
  let server: StaticServer | undefined;

  beforeAll(async () => {
    const recipe = path.join(work, 'arm64.ts');
    fs.writeFileSync(
      recipe,
      `import minimal from ${JSON.stringify(path.join(REPO, 'recipes/minimal.ts'))};\nexport default { ...minimal, architecture: 'arm64' };\n`,
    );
    const r = await runCli(['build', recipe, '--fast', '--out', out, '--cache-dir', TEST_CACHE]);
    if (r.exitCode !== 0) throw new Error(`arm64 build failed (${r.exitCode}):\n${r.stderr.split('\n').slice(-30).join('\n')}`);
    debs = fs
      .readdirSync(out)
      .filter((f) => f.endsWith('.deb'))
      .map((f) => path.join(out, f));
    for (const deb of debs) await execa('dpkg-deb', ['-x', deb, unpacked(deb)]);
    key = await makeSigningKey();
  });
  afterAll(async () => {
    await server?.close();
    await key?.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('names the architecture in every artifact, and every executable in both packages is aarch64', () => {
    expect(debs.map((d) => path.basename(d)).sort()).toEqual(['ephemeral-builder-image-1.0.0_1.0.0_arm64.deb', 'ephemeral-builder_1.0.0_arm64.deb']);
    expect(fs.existsSync(path.join(out, 'ephemeral-builder-1.0.0-arm64.tar.zst'))).toBe(true);
    let elves = 0;
    for (const deb of debs) {
      const foreign = [...elfMachines(unpacked(deb))].filter(([, machine]) => machine !== EM_AARCH64);
      expect(foreign, path.basename(deb)).toEqual([]);
      elves += elfMachines(unpacked(deb)).size;
    }
    expect(elves).toBeGreaterThan(100);
  });

  it('runs a GitLab Runner style session in the emulated container: bash -l, its exit status, a read-only /', async () => {
    const image = path.join(unpacked(debs.find((d) => d.includes('-image-')) as string), 'usr/lib/ephemeral-builder/images/1.0.0');
    const tools = new ToolRunner(path.join(work, 'keys.log'), () => {}, new AbortController().signal);
    const host = await layOutHost(path.join(work, 'host'), resolvedRecipe(minimal), image, tools);
    const script = runnerScript(['echo "machine $(uname -m) $(dpkg --print-architecture)"', 'if touch /probe 2>/dev/null; then echo writable; fi', 'exit 7']);
    const session = await runnerSession(host, 'builder', script, path.join(work, 'session.log'));
    expect(session.stdout.trim()).toBe('machine aarch64 arm64');
    expect(session.exitCode).toBe(7);
  });

  it('shares one apt repository with amd64, from which apt in an arm64 tree takes the arm64 packages', async () => {
    // The amd64 release the e2e tests install (built once per test run, whichever file needs it first).
    const amd64 = await artifacts('1.0.0');
    const repo = path.join(work, 'repo');
    const amd64Debs = [amd64.hostDeb, amd64.imageDeb];
    await publish({ repoDir: repo, debs: [...amd64Debs, ...debs], gnupgHome: key.gnupgHome });
    const release = fs.readFileSync(path.join(repo, 'dists/stable/Release'), 'utf8');
    expect(/^Architectures: (.*)$/m.exec(release)?.[1]).toBe('amd64 arm64');
    for (const arch of ['amd64', 'arm64']) {
      const index = fs.readFileSync(path.join(repo, `dists/stable/main/binary-${arch}/Packages`), 'utf8');
      // The keyring package (Architecture: all) belongs in both indexes; every other entry is this architecture's.
      const entries = index
        .split('\n\n')
        .filter(Boolean)
        .map((s) => `${/^Package: (.*)$/m.exec(s)?.[1]} ${/^Architecture: (.*)$/m.exec(s)?.[1]}`);
      expect(entries.sort()).toEqual([`ephemeral-builder ${arch}`, 'ephemeral-builder-archive-keyring all', `ephemeral-builder-image-1.0.0 ${arch}`]);
    }
    server = await serveDirectory(repo);
    // An arm64 Debian tree with apt: a copy of the image's root file system, made writable.
    const tree = path.join(work, 'arm64-host');
    await execa('cp', ['-a', path.join(unpacked(debs.find((d) => d.includes('-image-')) as string), 'usr/lib/ephemeral-builder/images/1.0.0'), tree]);
    fs.copyFileSync(path.join(repo, 'ephemeral-builder-archive-keyring.gpg'), path.join(tree, 'etc/apt/keyrings/ephemeral-builder.gpg'));
    fs.writeFileSync(
      path.join(tree, 'etc/apt/sources.list.d/ephemeral-builder.sources'),
      `Types: deb\nURIs: ${server.url}\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/ephemeral-builder.gpg\n`,
    );
    const tools = new ToolRunner(path.join(work, 'apt.log'), () => {}, new AbortController().signal);
    // This repository alone: apt under emulation parsing Debian's whole arm64 index took minutes.
    // apt fetches the host package's candidate (the arm64 build, not the amd64 one beside it) and
    // installs the image package; configuring the host package would configure its dependencies,
    // systemd among them, under emulation, for nothing this test checks.
    fs.rmSync(path.join(tree, 'etc/apt/sources.list.d/debian.sources'));
    await runInTree(
      tools,
      tree,
      [
        '/bin/sh',
        '-ec',
        [
          'apt-get update -q',
          'cd /var/cache/apt/archives && apt-get download ephemeral-builder',
          'apt-get install -y -q --no-install-recommends ephemeral-builder-image-1.0.0',
        ].join(' && '),
      ],
      { network: true, env: { DEBIAN_FRONTEND: 'noninteractive' }, tool: { timeoutMs: 15 * 60_000 } },
    );
    const fetched = fs.readdirSync(path.join(tree, 'var/cache/apt/archives')).filter((f) => f.startsWith('ephemeral-builder'));
    expect(fetched.sort()).toEqual(['ephemeral-builder-image-1.0.0_1.0.0_arm64.deb', 'ephemeral-builder_1.0.0_arm64.deb']);
    for (const f of fetched) expect(fs.readFileSync(path.join(tree, 'var/cache/apt/archives', f))).toEqual(fs.readFileSync(path.join(out, f)));
    const installed = await execa('dpkg-query', [
      '--admindir',
      path.join(tree, 'var/lib/dpkg'),
      '-W',
      '-f',
      '${Package} ${Architecture} ${db:Status-Abbrev}\n',
      'ephemeral-builder-image-1.0.0',
    ]);
    expect(installed.stdout).toBe('ephemeral-builder-image-1.0.0 arm64 ii ');
    expect(elfMachines(path.join(tree, 'usr/lib/ephemeral-builder/images/1.0.0/usr/bin')).get('bash')).toBe(EM_AARCH64);
  });
});
