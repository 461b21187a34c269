// The <name>-archive-keyring package that every publish keeps in the repository: it owns
// /etc/apt/keyrings/<name>-archive-keyring.gpg, the file the first-time setup downloads and the
// .sources file's Signed-By names, and holds the key that signs now and the next one. A host that
// upgrades it trusts the next key before that key signs anything, so a key rotation needs no step
// on any host. The file the admin downloaded first is replaced by the package's own at the same
// path (dpkg takes over a file no package owns), so Signed-By never changes.
//
// The package is made the same way each time (fixed file times, fixed order), so the same keys
// give the same bytes: its version goes up by one only when the keys change (a new next key, a
// rotation, an extended expiry), and an unchanged key set republishes nothing.
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { buildDeb } from '../pack/deb-writer.ts';
import { mergeEntries, syntheticEntries } from '../pack/tar-entries.ts';
import { readDeb, type DebInfo } from './deb-file.ts';
import type { KeyInfo } from './gpg.ts';
import type { IndexEntry } from './index-files.ts';
import { keyringInstallPath, keyringPackageName } from './sources.ts';
import { compareDebianVersions } from './version-order.ts';

export interface KeyringKey extends KeyInfo {
  role: 'signs' | 'next';
}

const day = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

/** The keys as the package's description lists them. */
export function describeKeys(keys: KeyringKey[]): string {
  return keys
    .map(
      (k) =>
        `${k.fingerprint} (${k.role === 'signs' ? 'signs the repository now' : 'the next signing key'}, ` +
        `${k.expires === undefined ? 'never expires' : `expires ${day(k.expires)}`})`,
    )
    .join('; ');
}

async function buildAt(dir: string, o: { name: string; version: string; keyring: Buffer; keys: KeyringKey[]; maintainer: string }): Promise<DebInfo> {
  const pkg = keyringPackageName(o.name);
  // The newest key's creation time: fixed for a key set, so the bytes depend on the keys alone.
  const epoch = Math.max(...o.keys.map((k) => k.created));
  const file = path.join(dir, `${pkg}_${o.version}_all.deb`);
  await buildDeb({
    outFile: file,
    control: {
      package: pkg,
      version: o.version,
      architecture: 'all',
      maintainer: o.maintainer,
      section: 'misc',
      priority: 'optional',
      synopsis: `OpenPGP keys of the ${o.name} apt repository`.slice(0, 80),
      description: [
        `Keeps ${keyringInstallPath(o.name)} current, the keyring the ${o.name} repository's Signed-By names. ` +
          'It holds the key that signs the repository and the next one, so a host that upgrades this package trusts the next key before it signs anything.',
        `Keys: ${describeKeys(o.keys)}.`,
      ],
    },
    data: mergeEntries([syntheticEntries([{ path: keyringInstallPath(o.name), mode: 0o644, content: o.keyring }], epoch)], epoch),
    compression: { tool: 'xz', level: 6 },
    sourceDateEpoch: epoch,
  });
  return readDeb(file);
}

/**
 * The keyring package for these keys, built in `dir`: at the version already published when its
 * bytes are the same (publish then finds it unchanged), else at the next version.
 */
export async function keyringPackage(
  dir: string,
  o: { name: string; keyring: Buffer; keys: KeyringKey[]; maintainer: string; published: IndexEntry[] },
): Promise<DebInfo> {
  const pkg = keyringPackageName(o.name);
  const latest = o.published.filter((e) => e.package === pkg).sort((a, b) => compareDebianVersions(b.version, a.version))[0];
  if (latest) {
    if (!/^[0-9]+$/.test(latest.version)) {
      throw new UsageError(
        `${pkg} ${latest.version} in the repository is not a version publish made (a whole number): remove it from the repository, or publish under another name`,
      );
    }
    const same = await buildAt(dir, { ...o, version: latest.version });
    if (same.sha256 === latest.sha256) return same;
    fs.rmSync(same.file);
  }
  return buildAt(dir, { ...o, version: String(latest ? Number(latest.version) + 1 : 1) });
}
