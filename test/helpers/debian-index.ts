// What "patched" means, checked independently of the pipeline's own index reader: every installed
// package against the same package in a suite's Packages index, fetched straight from the mirror
// and compared with dpkg's own version order (`dpkg --compare-versions`).
import { execa } from 'execa';

export interface Installed {
  name: string;
  version: string;
}

/** name → version of every package of a suite's component for the architecture (Packages.xz). */
export async function indexVersions(uri: string, suite: string, component: string, arch: string): Promise<Map<string, string>> {
  const res = await fetch(`${uri.replace(/\/$/, '')}/dists/${suite}/${component}/binary-${arch}/Packages.xz`);
  if (!res.ok) throw new Error(`${uri} ${suite}: HTTP ${res.status}`);
  const text = (await execa('xz', ['-dc'], { input: Buffer.from(await res.arrayBuffer()) })).stdout;
  const versions = new Map<string, string>();
  for (const para of text.split('\n\n')) {
    const name = /^Package: (.+)$/m.exec(para)?.[1];
    const version = /^Version: (.+)$/m.exec(para)?.[1];
    if (name && version) versions.set(name, version);
  }
  return versions;
}

/** Installed packages older than the suite's version ("name old < new (suite)"), and how many were compared. */
export async function packagesBehind(installed: Installed[], uri: string, suite: string, arch: string): Promise<{ behind: string[]; compared: number }> {
  const index = await indexVersions(uri, suite, 'main', arch);
  const behind: string[] = [];
  let compared = 0;
  for (const pkg of installed) {
    const newer = index.get(pkg.name);
    if (!newer) continue;
    compared++;
    const lt = await execa('dpkg', ['--compare-versions', pkg.version, 'lt', newer], { reject: false });
    if (lt.exitCode === 0) behind.push(`${pkg.name} ${pkg.version} < ${newer} (${suite})`);
  }
  return { behind, compared };
}

/** Installed packages of a root filesystem, from its dpkg status. */
export async function installedIn(rootfs: string): Promise<Installed[]> {
  const r = await execa('dpkg-query', ['--admindir', `${rootfs}/var/lib/dpkg`, '-W', '-f', '${Package} ${Version}\n']);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name = '', version = ''] = l.split(' ');
      return { name, version };
    });
}
