// Tiny .deb packages for tests, built from an inline description with the real `dpkg-deb -b`.
// Files are owned by root (--root-owner-group); maintainer scripts are optional. A fixture release is
// a host package and the image package it depends on, as the product publishes them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface FixtureDeb {
  name: string;
  version: string;
  architecture?: string;
  depends?: string;
  description?: string;
  /** Path inside the package -> content. */
  files?: Record<string, string>;
  /** Paths among `files` installed executable (0755). */
  executables?: string[];
  postinst?: string;
}

/** Builds `<outDir>/<name>_<version>_<arch>.deb` (a suffix keeps same-version variants apart). */
export async function buildFixtureDeb(outDir: string, deb: FixtureDeb, suffix = ''): Promise<string> {
  const arch = deb.architecture ?? 'all';
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-fixture-deb-'));
  try {
    fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true, mode: 0o755 });
    const control = [
      `Package: ${deb.name}`,
      `Version: ${deb.version}`,
      `Architecture: ${arch}`,
      'Maintainer: ephemeral-builder tests <tests@example.invalid>',
      ...(deb.depends ? [`Depends: ${deb.depends}`] : []),
      'Section: admin',
      'Priority: optional',
      `Description: ${deb.description ?? `test fixture ${deb.name}`}`,
      ' A package made by the test suite.',
      '',
    ].join('\n');
    fs.writeFileSync(path.join(root, 'DEBIAN/control'), control);
    if (deb.postinst) fs.writeFileSync(path.join(root, 'DEBIAN/postinst'), deb.postinst, { mode: 0o755 });
    for (const [file, content] of Object.entries(deb.files ?? {})) {
      const dest = path.join(root, file);
      fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
      fs.writeFileSync(dest, content);
      fs.chmodSync(dest, deb.executables?.includes(file) ? 0o755 : 0o644);
    }
    fs.chmodSync(root, 0o755);
    fs.mkdirSync(outDir, { recursive: true });
    const out = path.join(outDir, `${deb.name}_${deb.version}_${arch}${suffix}.deb`);
    await execa('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    return out;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/**
 * A release as the product publishes one, in miniature: the host package NAME VERSION, which
 * depends on exactly its image package NAME-image-VERSION, and that image package, each with a
 * file saying its version. Returns both files, host first.
 */
export async function buildFixtureRelease(outDir: string, name: string, version: string): Promise<[string, string]> {
  const image = `${name}-image-${version}`;
  return [
    await buildFixtureDeb(outDir, { name, version, depends: `${image} (= ${version})`, files: { [`etc/${name}-host`]: `${version}\n` } }),
    await buildFixtureDeb(outDir, { name: image, version, files: { [`usr/lib/${name}/images/${version}/release`]: `${version}\n` } }),
  ];
}
