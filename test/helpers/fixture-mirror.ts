// A Debian-style mirror directory made from an inline list of packages, for tests that must not
// depend on what the real mirror holds today: dists/<suite>/InRelease (unsigned, with the SHA256
// list apt and the pipeline check indexes against) and <component>/binary-<arch>/Packages.xz.
// Served over HTTP with serveDirectory, or read as a file:// URL.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';

export interface FixturePackage {
  name: string;
  version: string;
  architecture?: string;
}

export function writeFixtureSuite(root: string, suite: string, packages: FixturePackage[], opts: { codename?: string; arch?: string; date?: Date } = {}): void {
  const arch = opts.arch ?? 'amd64';
  const dir = path.join(root, 'dists', suite);
  const index = path.join(dir, 'main', `binary-${arch}`);
  fs.mkdirSync(index, { recursive: true });
  const text = packages
    .map((p) => `Package: ${p.name}\nVersion: ${p.version}\nArchitecture: ${p.architecture ?? arch}\nFilename: pool/main/${p.name}.deb\n`)
    .join('\n');
  const xz = execaSync('xz', ['-c'], { input: text, encoding: 'buffer' }).stdout as Uint8Array;
  fs.writeFileSync(path.join(index, 'Packages.xz'), xz);
  const sha = createHash('sha256').update(xz).digest('hex');
  fs.writeFileSync(
    path.join(dir, 'InRelease'),
    [
      'Origin: Debian',
      `Suite: ${suite}`,
      `Codename: ${opts.codename ?? suite}`,
      `Date: ${(opts.date ?? new Date('2026-12-01T00:00:00Z')).toUTCString()}`,
      `Architectures: ${arch}`,
      'Components: main',
      'SHA256:',
      ` ${sha} ${xz.length} main/binary-${arch}/Packages.xz`,
      '',
    ].join('\n'),
  );
}
