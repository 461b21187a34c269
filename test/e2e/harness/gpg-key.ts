// Throwaway OpenPGP signing keys, each in its own GNUPGHOME: for publishing test repositories
// (makeSigningKey, disposed by the test) and for signing test releases' SHA256SUMS as the CI's
// pages job does (testReleaseKey, one per test file, and trackedSigningKey: the test file's
// afterAll(disposeTrackedKeys) stops their agents and removes them). Ed25519 with no passphrase:
// generated in well under a second. They expire in two years, as publish wants a signing key to
// (a key that never expires is refused).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface SigningKey {
  gnupgHome: string;
  fingerprint: string;
  dispose(): Promise<void>;
}

/** gpgArgs go before every gpg command, e.g. --faked-system-time to make a key of the past. */
export async function makeSigningKey(
  uid = 'ephemeral-builder test repository <repo@example.invalid>',
  expire = '2y',
  gpgArgs: string[] = [],
): Promise<SigningKey> {
  const gnupgHome = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-gnupg-'));
  fs.chmodSync(gnupgHome, 0o700);
  const gpg = (args: string[]) => execa('gpg', ['--batch', '--no-tty', '--homedir', gnupgHome, ...gpgArgs, ...args], { env: { LC_ALL: 'C' } });
  await gpg(['--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', expire]);
  const listing = (await gpg(['--with-colons', '--list-secret-keys', uid])).stdout;
  const fingerprint = /^fpr:(?::[^:]*){7}:([0-9A-F]{40}):/m.exec(listing)?.[1];
  if (!fingerprint) throw new Error(`no fingerprint in gpg's listing:\n${listing}`);
  return {
    gnupgHome,
    fingerprint,
    async dispose() {
      await execa('gpgconf', ['--homedir', gnupgHome, '--kill', 'all'], { reject: false });
      fs.rmSync(gnupgHome, { recursive: true, force: true });
    },
  };
}

const tracked = new Set<Promise<SigningKey>>();
let releaseKey: Promise<SigningKey> | undefined;

/** A key that disposeTrackedKeys() disposes of. */
export function trackedSigningKey(uid: string, expire = '2y', gpgArgs: string[] = []): Promise<SigningKey> {
  const key = makeSigningKey(uid, expire, gpgArgs);
  tracked.add(key);
  return key;
}

/** The key that signs this test file's releases, made on first use. */
export function testReleaseKey(): Promise<SigningKey> {
  releaseKey ??= trackedSigningKey('test releases <releases@example.invalid>');
  return releaseKey;
}

/** For a test file's afterAll: every tracked key's agent stopped and directory removed. */
export async function disposeTrackedKeys(): Promise<void> {
  const keys = [...tracked];
  tracked.clear();
  releaseKey = undefined;
  await Promise.all(keys.map(async (k) => (await k.catch(() => undefined))?.dispose()));
}

/**
 * What the CI's pages job puts beside a release's SHA256SUMS in `dir`: SHA256SUMS.asc, its
 * detached signature, and the release keyring <name>-archive-keyring.gpg (binary, as exported).
 */
export async function signChecksums(dir: string, name: string, key?: SigningKey, gpgArgs: string[] = []): Promise<void> {
  const k = key ?? (await testReleaseKey());
  const gpg = (args: string[]) =>
    execa('gpg', ['--batch', '--no-tty', '--homedir', k.gnupgHome, ...gpgArgs, ...args], { encoding: 'buffer', stripFinalNewline: false });
  fs.rmSync(path.join(dir, 'SHA256SUMS.asc'), { force: true });
  await gpg(['--local-user', k.fingerprint, '--armor', '--detach-sign', '--output', path.join(dir, 'SHA256SUMS.asc'), path.join(dir, 'SHA256SUMS')]);
  fs.writeFileSync(path.join(dir, `${name}-archive-keyring.gpg`), (await gpg(['--export-options', 'export-minimal', '--export', k.fingerprint])).stdout);
}

/** The primary fingerprints in a keyring file, in order, as gpg --show-keys lists them. */
export async function keyringFingerprints(keyring: string): Promise<string[]> {
  const listing = (await execa('gpg', ['--batch', '--with-colons', '--show-keys', keyring], { env: { GNUPGHOME: os.tmpdir() } })).stdout;
  return [...listing.matchAll(/^pub:.*\nfpr:(?::[^:]*){7}:([0-9A-F]{40}):/gm)].map((m) => m[1]!);
}
