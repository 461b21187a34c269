// `diff A B`: what changed between two images, for release notes and before a rollback: packages
// added, removed, upgraded and downgraded (with both versions, in dpkg's order), the change in
// size and file count, and whether the recipe changed. Markdown for people, JSON (sorted, stable)
// for machines. Two images of different names are compared all the same, with a warning.
import { compareDebianVersions } from '../publish/version-order.ts';
import type { ImageRecord } from './image-record.ts';

export interface PackageChange {
  name: string;
  from?: string;
  to?: string;
}

export interface ImageDiff {
  from: { name: string; version: string };
  to: { name: string; version: string };
  /** null when one side (an image .deb, an image directory) does not record its recipe. */
  recipeChanged: boolean | null;
  sizeBytes: { from: number | null; to: number | null; change: number | null };
  fileCount: { from: number | null; to: number | null; change: number | null };
  added: PackageChange[];
  removed: PackageChange[];
  upgraded: PackageChange[];
  downgraded: PackageChange[];
  warnings: string[];
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Packages keyed by name, with the architecture when one name is installed for several. */
function packageMap(r: ImageRecord): Map<string, string> {
  const counts = new Map<string, number>();
  for (const p of r.packages) counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
  return new Map(r.packages.map((p) => [(counts.get(p.name) ?? 0) > 1 ? `${p.name}:${p.architecture}` : p.name, p.version]));
}

function numbers(a: number | undefined, b: number | undefined) {
  return { from: a ?? null, to: b ?? null, change: a !== undefined && b !== undefined ? b - a : null };
}

export function diffImages(a: ImageRecord, b: ImageRecord): ImageDiff {
  const warnings: string[] = [];
  if (a.name !== b.name) warnings.push(`comparing two different images: ${a.name} (${a.from}) and ${b.name} (${b.from})`);
  if (a.architecture !== b.architecture) warnings.push(`comparing ${a.architecture} with ${b.architecture}`);
  const before = packageMap(a);
  const after = packageMap(b);
  const d: ImageDiff = {
    from: { name: a.name, version: a.version },
    to: { name: b.name, version: b.version },
    recipeChanged: a.recipeDigest && b.recipeDigest ? a.recipeDigest !== b.recipeDigest : null,
    sizeBytes: numbers(a.sizeBytes, b.sizeBytes),
    fileCount: numbers(a.fileCount, b.fileCount),
    added: [],
    removed: [],
    upgraded: [],
    downgraded: [],
    warnings,
  };
  for (const [name, version] of after) {
    const old = before.get(name);
    if (old === undefined) d.added.push({ name, to: version });
    else if (compareDebianVersions(version, old) > 0) d.upgraded.push({ name, from: old, to: version });
    else if (compareDebianVersions(version, old) < 0) d.downgraded.push({ name, from: old, to: version });
  }
  for (const [name, version] of before) if (!after.has(name)) d.removed.push({ name, from: version });
  for (const list of [d.added, d.removed, d.upgraded, d.downgraded]) list.sort(byName);
  return d;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const signed = (n: number, f: (x: number) => string) => `${n >= 0 ? '+' : '−'}${f(Math.abs(n))}`;

export function renderDiffMarkdown(d: ImageDiff): string {
  const out = [`## ${d.from.name} ${d.from.version} → ${d.to.name === d.from.name ? '' : `${d.to.name} `}${d.to.version}`, ''];
  for (const w of d.warnings) out.push(`> **Warning:** ${w}`, '');
  const changed = d.added.length + d.removed.length + d.upgraded.length + d.downgraded.length;
  out.push(
    `- Packages: ${changed === 0 ? 'no change' : `${d.upgraded.length} upgraded, ${d.downgraded.length} downgraded, ${d.added.length} added, ${d.removed.length} removed`}`,
  );
  out.push(`- Recipe: ${d.recipeChanged === null ? 'not recorded on both sides' : d.recipeChanged ? 'changed' : 'unchanged'}`);
  if (d.sizeBytes.change !== null) out.push(`- Size: ${mb(d.sizeBytes.from ?? 0)} → ${mb(d.sizeBytes.to ?? 0)} (${signed(d.sizeBytes.change, mb)})`);
  if (d.fileCount.change !== null) out.push(`- Files: ${d.fileCount.from} → ${d.fileCount.to} (${signed(d.fileCount.change, String)})`);
  const table = (title: string, rows: PackageChange[], cols: ('from' | 'to')[]) => {
    if (!rows.length) return;
    out.push('', `### ${title} (${rows.length})`, '', `| package | ${cols.join(' | ')} |`, `| --- | ${cols.map(() => '---').join(' | ')} |`);
    for (const r of rows) out.push(`| ${r.name} | ${cols.map((c) => `\`${r[c]}\``).join(' | ')} |`);
  };
  table('Upgraded', d.upgraded, ['from', 'to']);
  table('Downgraded', d.downgraded, ['from', 'to']);
  table('Added', d.added, ['to']);
  table('Removed', d.removed, ['from']);
  return `${out.join('\n')}\n`;
}
