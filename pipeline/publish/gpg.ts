// Signing the Release file with gpg (InRelease by --clearsign, Release.gpg by --detach-sign) and
// exporting the public key as apt wants it: a binary OpenPGP certificate, never a keybox and never
// armored, because apt's sqv verifier (trixie and later) rejects keybox files given in Signed-By.
// Every call uses the caller's GNUPGHOME when given, and the signing key by its fingerprint, so the
// key that signs is always the key that is exported. Also reads what a key's expiry allows, and
// imports the public keys of the next signing keys, which the keyring carries before they sign.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { StageError, UsageError } from '../errors.ts';

export interface GpgOptions {
  /** A key id, fingerprint or user id; when absent the keyring must hold exactly one secret key. */
  signKey?: string;
  gnupgHome?: string;
}

async function gpg(opts: GpgOptions, args: string[], input?: string | Uint8Array): Promise<{ stdout: string; stdoutBuffer: Buffer }> {
  const base = ['--batch', '--no-tty', ...(opts.gnupgHome ? ['--homedir', opts.gnupgHome] : [])];
  const res = await execa('gpg', [...base, ...args], {
    // No stripFinalNewline: it would cut a final 0x0a byte off the binary key of --export.
    reject: false,
    env: { LC_ALL: 'C' },
    encoding: 'buffer',
    stripFinalNewline: false,
    ...(input !== undefined ? { input } : { stdin: 'ignore' as const }),
  });
  if ((res as { code?: string }).code === 'ENOENT') throw new UsageError('gpg is not installed: apt-get install gnupg');
  if (res.exitCode !== 0) {
    const tail = Buffer.from(res.stderr).toString('utf8').trim().split('\n').slice(-20);
    throw new StageError(
      'publish',
      `gpg ${args.join(' ')} failed (exit code ${res.exitCode})`,
      opts.gnupgHome ? `check the key in ${opts.gnupgHome}` : 'check the key with gpg --list-secret-keys',
      tail,
    );
  }
  const stdoutBuffer = Buffer.from(res.stdout);
  return { stdout: stdoutBuffer.toString('utf8').replace(/\r?\n$/, ''), stdoutBuffer };
}

/** Fingerprint of the primary key that will sign. */
export async function signingFingerprint(opts: GpgOptions): Promise<string> {
  let listing: string;
  try {
    listing = (await gpg(opts, ['--with-colons', '--list-secret-keys', ...(opts.signKey ? [opts.signKey] : [])])).stdout;
  } catch (err) {
    if (opts.signKey) throw new UsageError(`no secret key "${opts.signKey}" in ${opts.gnupgHome ?? 'the default GnuPG home'}`);
    throw err;
  }
  const fprs = primaryFingerprints(listing);
  const where = opts.gnupgHome ?? 'the default GnuPG home';
  if (fprs.length === 0) throw new UsageError(`no secret key${opts.signKey ? ` "${opts.signKey}"` : ''} in ${where}: create one or pass --gnupg-home`);
  if (fprs.length > 1) {
    throw new UsageError(
      `${fprs.length} secret keys match${opts.signKey ? ` "${opts.signKey}"` : ''} in ${where}: pass --sign-key with a fingerprint (${fprs.join(', ')})`,
    );
  }
  return fprs[0]!;
}

export async function clearsign(opts: GpgOptions, fingerprint: string, text: string): Promise<string> {
  return (await gpg(opts, ['--local-user', fingerprint, '--digest-algo', 'SHA512', '--armor', '--clearsign', '--output', '-'], text)).stdout;
}

export async function detachSign(opts: GpgOptions, fingerprint: string, text: string): Promise<string> {
  return (await gpg(opts, ['--local-user', fingerprint, '--digest-algo', 'SHA512', '--armor', '--detach-sign', '--output', '-'], text)).stdout;
}

/**
 * The public key as a binary OpenPGP certificate (what `gpg --export` without --armor writes).
 * Checked here: the first packet must be a public-key packet, so a keybox or an armored block
 * (both of which apt's sqv refuses) can never be published.
 */
export async function exportPublicKey(opts: GpgOptions, fingerprint: string): Promise<Buffer> {
  const key = (await gpg(opts, ['--export-options', 'export-minimal', '--export', fingerprint])).stdoutBuffer;
  if (!isBinaryPublicKey(key)) throw new StageError('publish', `gpg --export ${fingerprint} did not produce a binary OpenPGP public key`);
  return key;
}

export interface KeyInfo {
  /** The primary key's fingerprint, as apt, gpgv and sqv report a signer. */
  fingerprint: string;
  uid: string;
  /** Seconds since the epoch. */
  created: number;
  /**
   * Until when the key can sign (seconds): the primary key's expiry, or the earlier expiry of the
   * signing subkey gpg would use. Undefined: never.
   */
  expires?: number;
}

/** A key as `gpg --with-colons --fixed-list-mode --list-keys FPR` describes it. */
export function parseKeyListing(listing: string): KeyInfo {
  let fingerprint = '';
  let uid = '';
  let primary: { created: number; expires?: number; signs: boolean } | undefined;
  const signing: Array<{ created: number; expires?: number }> = [];
  let last: 'pub' | 'sub' | undefined;
  for (const line of listing.split('\n')) {
    const c = line.split(':');
    const created = Number(c[5]);
    const expires = c[6] ? Number(c[6]) : undefined;
    const usable = !['e', 'r', 'i', 'd'].includes(c[1] ?? '');
    if (c[0] === 'pub') {
      last = 'pub';
      primary = { created, expires, signs: (c[11] ?? '').includes('s') };
    } else if (c[0] === 'sub') {
      last = 'sub';
      if ((c[11] ?? '').includes('s') && usable) signing.push({ created, expires });
    } else if (c[0] === 'fpr' && last === 'pub' && !fingerprint) {
      fingerprint = c[9] ?? '';
    } else if (c[0] === 'uid' && !uid) {
      uid = c[9] ?? '';
    }
  }
  if (!primary || !fingerprint) throw new Error(`not a key listing:\n${listing}`);
  // gpg signs with the newest usable signing subkey, or with the primary key when it has none.
  const used = signing.sort((a, b) => b.created - a.created)[0] ?? (primary.signs ? primary : undefined);
  const ends = [primary.expires, used?.expires].filter((e): e is number => e !== undefined);
  return { fingerprint, uid, created: primary.created, expires: ends.length ? Math.min(...ends) : undefined };
}

export async function describeKey(opts: GpgOptions, fingerprint: string): Promise<KeyInfo> {
  return parseKeyListing((await gpg(opts, ['--with-colons', '--fixed-list-mode', '--list-keys', fingerprint])).stdout);
}

/**
 * The public keys in `files` (armored or binary), each exported as exportPublicKey does, in the
 * order given. A file holding a secret key is refused: a next key's file is published.
 */
export async function readPublicKeys(files: string[]): Promise<Array<{ file: string; key: KeyInfo; exported: Buffer }>> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-keys-'));
  fs.chmodSync(home, 0o700);
  const opts: GpgOptions = { gnupgHome: home };
  try {
    const out: Array<{ file: string; key: KeyInfo; exported: Buffer }> = [];
    const seen = new Set<string>();
    for (const file of files) {
      if (!fs.existsSync(file)) throw new UsageError(`${file}: no such key file`);
      await gpg(opts, ['--quiet', '--import'], fs.readFileSync(file)).catch(() => {
        throw new UsageError(`${file}: not an OpenPGP key (gpg --import failed)`);
      });
      if (/^sec:/m.test((await gpg(opts, ['--with-colons', '--list-secret-keys'])).stdout)) {
        throw new UsageError(`${file} holds a secret key: give the public key only (gpg --export FINGERPRINT)`);
      }
      const fprs = primaryFingerprints((await gpg(opts, ['--with-colons', '--list-keys'])).stdout).filter((f) => !seen.has(f));
      if (fprs.length === 0) throw new UsageError(`${file}: holds no public key that was not given before`);
      for (const fpr of fprs) {
        seen.add(fpr);
        out.push({ file, key: await describeKey(opts, fpr), exported: await exportPublicKey(opts, fpr) });
      }
    }
    return out;
  } finally {
    await execa('gpgconf', ['--homedir', home, '--kill', 'all'], { reject: false });
    fs.rmSync(home, { recursive: true, force: true });
  }
}

function primaryFingerprints(listing: string): string[] {
  const fprs: string[] = [];
  let afterPrimary = false;
  for (const line of listing.split('\n')) {
    const cols = line.split(':');
    if (cols[0] === 'pub' || cols[0] === 'sec') afterPrimary = true;
    else if (cols[0] === 'fpr' && afterPrimary) {
      if (cols[9]) fprs.push(cols[9]);
      afterPrimary = false;
    } else if (cols[0] === 'sub' || cols[0] === 'ssb') afterPrimary = false;
  }
  return fprs;
}

/** An OpenPGP packet stream starting with a public-key packet (tag 6), old or new format. */
export function isBinaryPublicKey(buf: Uint8Array): boolean {
  const first = buf[0];
  if (first === undefined || (first & 0x80) === 0) return false;
  const tag = first & 0x40 ? first & 0x3f : (first >> 2) & 0x0f;
  return tag === 6;
}

/**
 * Checks InRelease and Release.gpg with gpgv against the exported keyring alone, as apt does, so a
 * signature apt would refuse is never published.
 */
export async function verifySignatures(keyring: Uint8Array, inRelease: string, release: string, releaseGpg: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-gpgv-'));
  try {
    const ring = path.join(dir, 'keyring.gpg');
    fs.writeFileSync(ring, keyring);
    fs.writeFileSync(path.join(dir, 'InRelease'), inRelease);
    fs.writeFileSync(path.join(dir, 'Release'), release);
    fs.writeFileSync(path.join(dir, 'Release.gpg'), releaseGpg);
    for (const args of [['InRelease'], ['Release.gpg', 'Release']]) {
      const res = await execa('gpgv', ['--homedir', dir, '--keyring', ring, ...args], { cwd: dir, reject: false, env: { LC_ALL: 'C' } });
      if (res.exitCode !== 0) {
        throw new StageError('publish', `gpgv does not accept the new ${args[0]} with the exported key`, undefined, res.stderr.split('\n').slice(-10));
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
