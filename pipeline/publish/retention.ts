// `publish --keep N`: which releases leave the repository. A release is one version of the host
// package <name> together with the image package of that version (<name>-image-*), which the host
// package depends on with "(= version)": they go together or not at all. The newest N versions
// stay, by dpkg's order, so the newest is never pruned. Other packages (the archive keyring, any
// other package of the repository) are not releases and are left alone.
import { UsageError } from '../errors.ts';
import { field } from './deb822.ts';
import { entryKey, type IndexEntry } from './index-files.ts';
import { compareDebianVersions } from './version-order.ts';

export interface RetentionPlan {
  /** Versions of <name> that stay, newest first. */
  kept: string[];
  /** Versions that go, newest first, and every index entry that goes with them. */
  pruned: Array<{ version: string; entries: IndexEntry[] }>;
}

export function planRetention(entries: IndexEntry[], name: string, keep: number): RetentionPlan {
  if (!Number.isInteger(keep) || keep < 1) throw new UsageError(`--keep ${keep}: keep at least the newest version (--keep 1 or more)`);
  const versions = [...new Set(entries.filter((e) => e.package === name).map((e) => e.version))].sort((a, b) => compareDebianVersions(b, a));
  const kept = versions.slice(0, keep);
  const goes = new Set(versions.slice(keep));
  const ofRelease = (e: IndexEntry) => goes.has(e.version) && (e.package === name || e.package.startsWith(`${name}-image-`));
  const pruned = versions.slice(keep).map((version) => ({ version, entries: entries.filter((e) => e.version === version && ofRelease(e)) }));

  // A package that stays must not depend on an exact version that goes (apt could not install it).
  const gone = new Set(pruned.flatMap((p) => p.entries.map(entryKey)));
  const broken: string[] = [];
  for (const e of entries) {
    if (gone.has(entryKey(e))) continue;
    for (const dep of (field(e.paragraph, 'Depends') ?? '').split(',')) {
      const m = /^\s*([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\s*\(\s*=\s*([^)\s]+)\s*\)/.exec(dep);
      if (m && pruned.some((p) => p.entries.some((g) => g.package === m[1] && g.version === m[2]))) {
        broken.push(`${e.package} ${e.version} depends on ${m[1]} (= ${m[2]}), which --keep ${keep} would prune`);
      }
    }
  }
  if (broken.length) throw new UsageError(`publish refused, nothing was changed:\n${broken.join('\n')}`);
  return { kept, pruned };
}
