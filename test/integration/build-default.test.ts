// recipes/default.ts, built as CI builds a release (`build --fast`, the shared test cache), is
// patched: no package in its manifest is older than the same package in trixie-security or
// trixie-updates, read here straight from the mirror's indexes and compared with dpkg's own
// version order. (Built from trixie alone, an image had 19 packages behind trixie-security on the
// day this was written.) And its SBOM is valid CycloneDX 1.6 (the CycloneDX project's own
// validator, against the official schema), lists exactly what dpkg lists in the image the host
// package installs, and is the same file inside that image. `outdated` finds nothing behind it, and
// `diff` against a build of recipes/minimal.ts lists exactly the packages default has in addition.
import fs from 'node:fs';
import path from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { execa } from 'execa';
import { PackageURL } from 'packageurl-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.ts';
import { installedIn, packagesBehind } from '../helpers/debian-index.ts';
import { describeWith } from '../helpers/env.ts';
import { TEST_CACHE } from '../helpers/paths.ts';

interface Manifest {
  architecture: string;
  image: { packages: { name: string; version: string; architecture: string }[] };
  sources: { name: string; uri: string; suite: string; components: string[] }[];
}

interface Sbom {
  specVersion: string;
  metadata: { component: { name: string; version: string } };
  components: {
    name: string;
    version: string;
    purl: string;
    licenses: { license?: { id?: string; name?: string }; expression?: string }[];
    properties: { name: string; value: string }[];
  }[];
}

describeWith({ root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'ssh', 'dpkg', 'dpkg-query', 'xz'] }, 'build recipes/default.ts', () => {
  const out = tempDir('default');
  let manifest: Manifest;
  const imageDeb = async () => path.join(out, fs.readdirSync(out).find((f) => /^ephemeral-builder-image-.*\.deb$/.test(f)) as string);
  let unpacked: Promise<string> | undefined;
  /** The image as the image package installs it. */
  const installedImage = () => {
    unpacked ??= imageDeb().then(async (deb) => {
      await execa('dpkg-deb', ['-x', deb, path.join(out, 'installed')]);
      return path.join(out, 'installed/usr/lib/ephemeral-builder/images/1.0.0');
    });
    return unpacked;
  };
  beforeAll(async () => {
    const r = await runCli(['build', 'recipes/default.ts', '--fast', '--out', out, '--cache-dir', TEST_CACHE]);
    if (r.exitCode !== 0) throw new Error(`build failed (${r.exitCode}):\n${r.stderr}`);
    manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
  });
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('is built from trixie, trixie-updates and trixie-security', () => {
    expect(manifest.sources.map((s) => `${s.suite} ${s.uri}`)).toEqual([
      'trixie http://deb.debian.org/debian',
      'trixie-updates http://deb.debian.org/debian',
      'trixie-security http://deb.debian.org/debian-security',
    ]);
  });

  it('is what `outdated` calls current: nothing behind, exit 0, from its manifest or as installed', async () => {
    for (const form of [path.join(out, 'manifest.json'), await installedImage()]) {
      const r = await runCli(['outdated', form, '--json']);
      expect(r.exitCode, `${form}: ${r.stderr}`).toBe(0);
      const report = JSON.parse(r.stdout) as { packages: unknown[]; sources: { suite: string }[] };
      expect(report.packages).toEqual([]);
      expect(report.sources.map((s) => s.suite)).toEqual(['trixie', 'trixie-updates', 'trixie-security']);
    }
  });

  it('`diff` from a minimal build lists exactly the packages default adds, from its manifest or its image .deb', async () => {
    const minimal = path.join(out, 'minimal');
    const m = await runCli(['build', 'recipes/minimal.ts', '--fast', '--out', minimal, '--cache-dir', TEST_CACHE]);
    expect(m.exitCode, m.stderr).toBe(0);
    const small = (JSON.parse(fs.readFileSync(path.join(minimal, 'manifest.json'), 'utf8')) as Manifest).image.packages;
    const names = new Set(small.map((p) => p.name));
    const extra = manifest.image.packages.filter((p) => !names.has(p.name)).map((p) => ({ name: p.name, to: p.version }));
    expect(extra.length).toBeGreaterThan(50);
    let first: string | undefined;
    for (const form of [path.join(out, 'manifest.json'), await imageDeb()]) {
      const r = await runCli(['diff', path.join(minimal, 'manifest.json'), form, '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const d = JSON.parse(r.stdout) as { added: unknown[]; removed: unknown[] };
      expect(d.added).toEqual(extra);
      expect(d.removed).toEqual([]);
      first ??= JSON.stringify(d.added);
      expect(JSON.stringify(d.added)).toBe(first);
    }
  });

  it('has no package older than the same package in trixie-security or trixie-updates', async () => {
    const behind: string[] = [];
    let compared = 0;
    for (const source of manifest.sources.filter((s) => s.name === 'debian-security' || s.name === 'debian-updates')) {
      const found = await packagesBehind(manifest.image.packages, source.uri, source.suite, manifest.architecture);
      behind.push(...found.behind);
      compared += found.compared;
    }
    expect(behind).toEqual([]);
    // Not vacuous: the image's packages (libc, openssl, krb5, php…) do appear in those suites.
    console.log(`compared ${compared} package versions with trixie-security and trixie-updates`);
    expect(compared).toBeGreaterThan(0);
  });

  describe('its SBOM', () => {
    let text: string;
    let sbom: Sbom;
    let image: string;
    beforeAll(async () => {
      text = fs.readFileSync(path.join(out, 'ephemeral-builder-1.0.0-amd64.cdx.json'), 'utf8');
      sbom = JSON.parse(text) as Sbom;
      image = await installedImage();
    });

    it('is valid CycloneDX 1.6 by the official schema', async () => {
      expect(sbom.specVersion).toBe('1.6');
      expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text)).toBeNull();
      expect(sbom.metadata.component).toMatchObject({ name: 'ephemeral-builder-image', version: '1.0.0' });
    });

    it('lists every package dpkg lists in the image, with its purl and source package', async () => {
      const listed = (await installedIn(image)).map((p) => `${p.name} ${p.version}`).sort();
      expect(sbom.components.map((c) => `${c.name} ${c.version}`).sort()).toEqual(listed);
      const ssh = sbom.components.find((c) => c.name === 'openssh-server');
      // The purl spec's own library reads it back as the package it names.
      const purl = PackageURL.fromString(ssh?.purl ?? '');
      expect({ type: purl.type, namespace: purl.namespace, name: purl.name, version: purl.version, qualifiers: purl.qualifiers }).toEqual({
        type: 'deb',
        namespace: 'debian',
        name: 'openssh-server',
        version: ssh?.version,
        qualifiers: { arch: 'amd64', distro: 'debian-13' },
      });
      expect(ssh?.properties).toContainEqual({ name: 'debian:source', value: 'openssh' });
      // Licences are SPDX ids or expressions where the copyright file says so exactly, NOASSERTION otherwise.
      const zlib = sbom.components.find((c) => c.name === 'zlib1g');
      expect(zlib?.licenses).toEqual([{ license: { id: 'Zlib' } }]);
      for (const c of sbom.components) expect(c.licenses.length).toBeGreaterThan(0);
    });

    it('is inside the image the host package installs, byte for byte', () => {
      expect(fs.readFileSync(path.join(image, 'usr/share/ephemeral-builder/sbom.cdx.json'), 'utf8')).toBe(text);
      expect(fs.readFileSync(path.join(out, 'SHA256SUMS'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}ephemeral-builder-1\.0\.0-amd64\.cdx\.json$/m);
    });
  });
});
