// An extra repository's signing key: read from the recipe's key file (ASCII-armored or binary),
// narrowed to the pinned fingerprint when there is one, and normalised to the binary OpenPGP
// certificate apt's Signed-By wants (trixie's sqv refuses keybox files). The same bytes check the
// repository's InRelease here, let apt verify it during the bootstrap, and go into the image.
// Reads: repositories[].key, repositories[].fingerprint.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { isBinaryPublicKey } from '../publish/gpg.ts';

export interface RepositoryKey {
  /** Binary OpenPGP certificate(s), public parts only. */
  data: Buffer;
  sha256: string;
  /** Primary key fingerprints, upper case. */
  fingerprints: string[];
}

export class KeyProblem extends Error {
  override name = 'KeyProblem';
}

/** A throw-away GnuPG home: nothing is imported into the user's keyrings. */
async function withGnupgHome<T>(
  run: (gpg: (args: string[], input?: Buffer | string) => Promise<{ exitCode: number; stdout: Buffer; stderr: string }>, dir: string) => Promise<T>,
): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-key-'));
  try {
    return await run(async (args, input) => {
      const r = await execa('gpg', ['--batch', '--no-tty', '--homedir', dir, ...args], {
        reject: false,
        env: { LC_ALL: 'C' },
        encoding: 'buffer',
        stripFinalNewline: false,
        ...(input !== undefined ? { input } : { stdin: 'ignore' as const }),
      });
      return { exitCode: r.exitCode ?? -1, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr).toString('utf8') };
    }, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function readRepositoryKey(file: string, fingerprint?: string): Promise<RepositoryKey> {
  const pinned = fingerprint?.replace(/\s+/g, '').toUpperCase();
  return withGnupgHome(async (gpg) => {
    const imported = await gpg(['--import'], fs.readFileSync(file));
    if (imported.exitCode !== 0) throw new KeyProblem(`${file} holds no OpenPGP key gpg can read (${lastLine(imported.stderr)})`);
    const listing = (await gpg(['--with-colons', '--list-keys'])).stdout.toString('utf8');
    const fingerprints = primaryFingerprints(listing);
    if (fingerprints.length === 0) throw new KeyProblem(`${file} holds no OpenPGP public key`);
    if (pinned && !fingerprints.includes(pinned)) {
      throw new KeyProblem(`${file} holds ${fingerprints.join(', ')}, not the pinned fingerprint ${pinned}`);
    }
    const trusted = pinned ? [pinned] : fingerprints;
    // export-minimal: the self-signatures only, so the bytes depend on the key and not on whichever
    // third-party signatures the file happened to carry.
    const data = (await gpg(['--export-options', 'export-minimal', '--export', ...trusted])).stdout;
    if (!isBinaryPublicKey(data)) throw new KeyProblem(`${file}: gpg --export gave no binary public key`);
    return { data, sha256: createHash('sha256').update(data).digest('hex'), fingerprints: trusted };
  });
}

/** The fpr line right after each pub line of `gpg --with-colons --list-keys`. */
function primaryFingerprints(listing: string): string[] {
  const out: string[] = [];
  let afterPub = false;
  for (const line of listing.split('\n')) {
    const cols = line.split(':');
    if (cols[0] === 'pub') afterPub = true;
    else if (cols[0] === 'fpr' && afterPub) {
      if (cols[9]) out.push(cols[9].toUpperCase());
      afterPub = false;
    }
  }
  return out;
}

/** Whether gpgv accepts the clearsigned InRelease with this key alone, as apt's Signed-By does. */
export async function verifyInRelease(key: RepositoryKey, inRelease: string): Promise<{ ok: true } | { ok: false; why: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-gpgv-'));
  try {
    const ring = path.join(dir, 'keyring.gpg');
    fs.writeFileSync(ring, key.data);
    const r = await execa('gpgv', ['--homedir', dir, '--keyring', ring, '-'], { input: inRelease, reject: false, env: { LC_ALL: 'C' } });
    if (r.exitCode === 0) return { ok: true };
    return {
      ok: false,
      why:
        r.stderr
          .split('\n')
          .filter((l) => /BAD|No public key|Can't check|no signature|not a detached|no valid OpenPGP/i.test(l))
          .join('; ') || lastLine(r.stderr),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? 'no output';
}
