// A throwaway OpenPGP signing key in its own GNUPGHOME, for publishing test repositories.
// Ed25519 with no passphrase: generated in well under a second. It expires in two years, as publish
// wants a signing key to (a key that never expires is refused). The gpg-agent it starts is
// stopped, and the directory removed, by dispose().
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface SigningKey {
  gnupgHome: string;
  fingerprint: string;
  dispose(): Promise<void>;
}

export async function makeSigningKey(uid = 'ephemeral-builder test repository <repo@example.invalid>', expire = '2y'): Promise<SigningKey> {
  const gnupgHome = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-gnupg-'));
  fs.chmodSync(gnupgHome, 0o700);
  const gpg = (args: string[]) => execa('gpg', ['--batch', '--no-tty', '--homedir', gnupgHome, ...args], { env: { LC_ALL: 'C' } });
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
