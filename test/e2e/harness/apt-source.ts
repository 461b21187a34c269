// Adding a published repository to a booted host the way the docs' first-time setup does: the
// keyring into /etc/apt/keyrings/, the .sources file (deb822, Signed-By that keyring) into
// /etc/apt/sources.list.d/, with the URI of the loopback HTTP server (the host shares this
// machine's loopback, so 127.0.0.1 reaches it).
import fs from 'node:fs';
import path from 'node:path';
import { keyringFileName, keyringInstallPath } from '../../../pipeline/publish/sources.ts';
import type { BootedHost } from './boot.ts';

export function addAptSource(host: BootedHost, o: { repoDir: string; name: string; uri: string }): void {
  const sources = fs.readFileSync(path.join(o.repoDir, `${o.name}.sources`), 'utf8').replace(/^URIs: .*$/m, `URIs: ${o.uri}`);
  host.writeFile(keyringInstallPath(o.name), fs.readFileSync(path.join(o.repoDir, keyringFileName(o.name))));
  host.writeFile(`/etc/apt/sources.list.d/${o.name}.sources`, sources);
}

/** apt-get as an admin runs it: non-interactive, no recommends pulled by surprise. */
export const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' };
