// Overlay hygiene (always last): removes what must not ship or would make two builds differ —
// ssh host keys (every host would share one private key), apt caches and lists, logs, temporary
// files, ldconfig's aux-cache, backup copies of the user tables — empties machine-id, and clamps
// every mtime to SOURCE_DATE_EPOCH. Reads: name, sourceDateEpoch.
import fs from 'node:fs';
import { defineOverlay } from '../../pipeline/overlay/define.ts';
import type { ImageRoot } from '../../pipeline/overlay/image-root.ts';
import { walkTree } from '../../pipeline/util/tree-digest.ts';

/** Directories whose contents go (the directories themselves stay: packages expect them). */
// /dev: bootstrappers create device nodes; nspawn mounts its own /dev, and a .deb cannot carry them.
export const EMPTIED_DIRS = ['/dev', '/tmp', '/var/tmp', '/var/lib/apt/lists', '/var/cache/apt/archives', '/var/cache/man'];
/** Files removed outright; a trailing * matches any suffix in that directory. */
export const REMOVED = [
  '/etc/ssh/ssh_host_*',
  '/var/cache/apt/*.bin',
  '/var/cache/ldconfig/aux-cache',
  '/var/lib/dbus/machine-id',
  '/var/cache/debconf/*-old',
  '/var/lib/dpkg/*-old',
  '/etc/passwd-',
  '/etc/group-',
  '/etc/shadow-',
  '/etc/gshadow-',
  '/var/lib/systemd/catalog/database',
  '/var/lib/dpkg/lock*',
  '/var/lib/apt/extended_states',
  '/root/.ssh',
  '/var/log/*',
  '/etc/.pwd.lock',
  '/var/cache/private/*',
];

export default defineOverlay({
  description: 'removes host keys, caches, logs and temporary files; empties machine-id; clamps mtimes',
  apply({ image, recipe, log }) {
    for (const pattern of REMOVED)
      for (const p of expand(image, pattern)) {
        log(`removed ${p}`);
        image.remove(p);
      }
    for (const dir of EMPTIED_DIRS) for (const entry of image.list(dir)) image.remove(`${dir}/${entry}`);
    // Packages that log (dpkg, apt, alternatives) expect /var/log to exist.
    image.mkdir('/var/log');
    // Empty, not absent: systemd and nspawn treat an empty machine-id as "make one at boot".
    image.writeFile('/etc/machine-id', '', { mode: 0o444 });
    // nspawn binds the host's resolv.conf onto this file; it must exist on a read-only root.
    image.writeFile('/etc/resolv.conf', '', { mode: 0o644 });
    image.writeFile('/etc/hostname', `${recipe.name}\n`, { mode: 0o644 });
    log(`clamped ${clampMtimes(image.root, recipe.sourceDateEpoch)} mtimes to ${recipe.sourceDateEpoch}`);
  },
});

function expand(image: ImageRoot, pattern: string): string[] {
  if (!pattern.endsWith('*')) return image.exists(pattern) || isLink(image, pattern) ? [pattern] : [];
  const slash = pattern.lastIndexOf('/');
  const dir = pattern.slice(0, slash);
  const prefix = pattern.slice(slash + 1, -1);
  return image
    .list(dir)
    .filter((n) => n.startsWith(prefix))
    .map((n) => `${dir}/${n}`);
}

function isLink(image: ImageRoot, p: string): boolean {
  try {
    return fs.lstatSync(image.resolve(p, false)).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Every entry newer than the epoch gets the epoch; older package files keep their dates. */
export function clampMtimes(root: string, epoch: number): number {
  let clamped = 0;
  const clamp = (full: string, st: fs.Stats) => {
    if (st.mtimeMs / 1000 > epoch) {
      fs.lutimesSync(full, epoch, epoch);
      clamped++;
    }
  };
  for (const e of walkTree(root)) clamp(e.full, e.st);
  clamp(root, fs.lstatSync(root));
  return clamped;
}
