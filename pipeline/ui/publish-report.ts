// What `ephemeral-builder publish` prints: the plan, as "would ..." lines with --dry-run and as
// what was done otherwise, the keys the keyring carries, and the repository's size against its
// limit. Pruning says what it means for hosts, since a host may still be pinned to what goes.
import type { PublishResult } from '../publish/publish.ts';
import { releaseDate } from '../publish/index-files.ts';
import { formatBytes } from './format.ts';

export function publishReport(r: PublishResult): string[] {
  const would = (done: string, planned: string) => (r.dryRun ? `would ${planned}` : done);
  const lines: string[] = [];
  for (const p of r.added) lines.push(`${would('added', 'add')} ${p.package} ${p.version} ${p.architecture}: ${p.filename}`);
  for (const p of r.unchanged) lines.push(`unchanged ${p.package} ${p.version} ${p.architecture}`);
  for (const p of r.pruned) {
    lines.push(`${would('pruned', 'prune')} ${r.name} ${p.version}: ${p.packages.map((x) => x.filename).join(', ')}`);
    lines.push(
      `  hosts pinned to ${p.version} (apt-get install ${r.name}=${p.version}, or an apt preference) can no longer install it from this repository; hosts running it keep it`,
    );
  }
  if (r.kept) lines.push(`${would('kept', 'keep')} ${r.name} ${r.kept.join(', ')}`);
  for (const k of r.keys) {
    lines.push(
      `key ${k.fingerprint}: ${k.role === 'signs' ? 'signs' : 'next'}, ${k.expires === undefined ? 'never expires' : `expires ${releaseDate(k.expires)}`}`,
    );
  }
  if (r.signs) {
    lines.push(
      `${would('signed', 'sign')} dists/${r.suite}/InRelease with ${r.fingerprint}: Date ${releaseDate(r.date)}, Valid-Until ${releaseDate(r.validUntil)}`,
    );
  } else {
    lines.push(`nothing changed: dists/${r.suite}/InRelease ${r.dryRun ? 'would stay' : 'stays'} as it was (--resign signs it again)`);
  }
  const limit = r.size.limit === undefined ? 'no limit' : `limit ${formatBytes(r.size.limit)}`;
  const after = `${formatBytes(r.size.after)}${r.dryRun ? ' after this publish (signatures estimated)' : ''}`;
  lines.push(`repository: ${r.size.files} files, ${after} (was ${formatBytes(r.size.before)}; ${limit})`);
  if (!r.dryRun) lines.push(`keyring: ${r.keyring}`, `sources: ${r.sources}`);
  return lines;
}
