// The debootstrap bootstrapper reads one mirror, so the bootstrap stage lays down the suite with it
// and then runs apt inside the tree with every source: recipes/minimal.ts bootstrapped that way has
// the recipe's packages, none of them behind trixie-security or trixie-updates, the image's deb822
// sources, and no apt lists or caches left in the cached tree.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.ts';
import { installedIn, packagesBehind, type Installed } from '../helpers/debian-index.ts';
import { describeWith } from '../helpers/env.ts';
import { REPO, TEST_CACHE } from '../helpers/paths.ts';

describeWith({ root: true, tools: ['debootstrap', 'systemd-nspawn', 'dpkg', 'xz'] }, 'bootstrap with debootstrap', () => {
  const work = tempDir('debootstrap');
  let rootfs: string;
  let installed: Installed[];
  beforeAll(async () => {
    const recipe = path.join(work, 'recipe.ts');
    fs.writeFileSync(
      recipe,
      `import minimal from ${JSON.stringify(path.join(REPO, 'recipes/minimal.ts'))};\nexport default { ...minimal, bootstrapper: 'debootstrap' };\n`,
    );
    const r = await runCli(['build', recipe, '--stop-after', 'bootstrap', '--out', path.join(work, 'out'), '--cache-dir', TEST_CACHE]);
    if (r.exitCode !== 0) throw new Error(`build failed (${r.exitCode}):\n${r.stderr}`);
    rootfs = path.join(work, 'out/rootfs');
    installed = await installedIn(rootfs);
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it("installs the recipe's packages, none behind trixie-security or trixie-updates", async () => {
    expect(installed.map((p) => p.name)).toEqual(expect.arrayContaining(['openssh-server', 'git', 'bash']));
    const security = await packagesBehind(installed, 'http://deb.debian.org/debian-security', 'trixie-security', 'amd64');
    const updates = await packagesBehind(installed, 'http://deb.debian.org/debian', 'trixie-updates', 'amd64');
    expect([...security.behind, ...updates.behind]).toEqual([]);
    expect(security.compared).toBeGreaterThan(0);
  });

  it("leaves the image's deb822 sources and no apt lists or caches", () => {
    expect(fs.existsSync(path.join(rootfs, 'etc/apt/sources.list'))).toBe(false);
    expect(fs.readFileSync(path.join(rootfs, 'etc/apt/sources.list.d/debian.sources'), 'utf8')).toContain('Suites: trixie trixie-updates\n');
    expect(fs.readdirSync(path.join(rootfs, 'var/lib/apt/lists')).filter((f) => f !== 'partial' && f !== 'lock')).toEqual([]);
    expect(fs.readdirSync(path.join(rootfs, 'var/cache/apt/archives')).filter((f) => f.endsWith('.deb'))).toEqual([]);
  });
});
