// The installed packages of an image, as its dpkg database records them (/var/lib/dpkg/status):
// the manifest's package list and the SBOM's components both come from here.
import type { ImageRoot } from '../overlay/image-root.ts';
import type { InstalledPackage } from '../stage.ts';

/** Installed packages, sorted by name; `source` is the source package (itself when not given). */
export function installedPackages(image: ImageRoot): InstalledPackage[] {
  const status = image.readTextIfExists('/var/lib/dpkg/status') ?? '';
  const out: InstalledPackage[] = [];
  for (const para of status.split(/\n\n+/)) {
    const get = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(para)?.[1]?.trim();
    if (!get('Status')?.endsWith(' installed')) continue;
    const name = get('Package') ?? '';
    const version = get('Version') ?? '';
    // "Source: name" or "Source: name (version)" when the binary's version differs from the source's.
    const source = /^(\S+)(?:\s+\((.+)\))?$/.exec(get('Source') ?? '');
    out.push({ name, version, architecture: get('Architecture') ?? '', source: source?.[1] ?? name, sourceVersion: source?.[2] ?? version });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
