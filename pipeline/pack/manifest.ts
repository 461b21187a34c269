// manifest.json (what was built from what) and SHA256SUMS (`sha256sum -c` format), both
// byte-deterministic: sorted keys, no time but SOURCE_DATE_EPOCH, no absolute paths (the recipe
// file's location and the cache status differ between two builds of the same thing).
// Reads: name, version, architecture, suite, digest, sourceDateEpoch, and the resolved apt sources.
import fs from 'node:fs';
import { fileSha256 } from '../util/tree-digest.ts';
import type { InstalledPackage, VerifiedTree } from '../stage.ts';
import type { ResolvedRecipe } from '../recipe/resolve.ts';
import { sourceRecord } from '../sources/resolve-sources.ts';
import type { Plan } from '../ui/reporter.ts';

/** 2: `sources` (every apt source with its InRelease digest) replaced `mirror`. */
export const MANIFEST_FORMAT = 2;

/** JSON with object keys sorted at every level, two-space indent, trailing newline. */
export function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

export interface ArtifactRecord {
  /** File name in OUT. */
  file: string;
  bytes: number;
  sha256: string;
}

/** Hashed through one reused buffer: a read stream's fresh 1 MiB per read added ~40 MB to node's peak. */
export function artifactRecord(name: string, file: string): ArtifactRecord {
  return { file: name, bytes: fs.statSync(file).size, sha256: fileSha256(file) };
}

export interface ManifestInput {
  recipe: Pick<ResolvedRecipe, 'name' | 'version' | 'architecture' | 'suite' | 'digest' | 'sourceDateEpoch' | 'aptSources'>;
  debianVersion: string;
  packages: { image: string; host: string };
  tree: VerifiedTree;
  plan: Pick<Plan, 'stages'>;
  artifacts: ArtifactRecord[];
}

export function manifestJson(m: ManifestInput): string {
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const pkgs: Pick<InstalledPackage, 'name' | 'version' | 'architecture'>[] = [...m.tree.packages]
    .sort(byName)
    .map((p) => ({ name: p.name, version: p.version, architecture: p.architecture }));
  return stableJson({
    format: MANIFEST_FORMAT,
    name: m.recipe.name,
    version: m.recipe.version,
    debianVersion: m.debianVersion,
    architecture: m.recipe.architecture,
    sourceDateEpoch: m.recipe.sourceDateEpoch,
    recipe: { digest: m.recipe.digest },
    suite: m.recipe.suite,
    sources: m.recipe.aptSources.map(sourceRecord),
    packages: m.packages,
    image: { treeDigest: m.tree.treeDigest, sizeBytes: m.tree.sizeBytes, fileCount: m.tree.fileCount, packages: pkgs },
    artifacts: [...m.artifacts].sort((a, b) => (a.file < b.file ? -1 : 1)),
    stages: m.plan.stages.map((s) => ({ stage: s.stage, key: s.key })),
  });
}

/** `sha256sum` output for the given files, sorted by name: `sha256sum -c SHA256SUMS` checks them. */
export function sha256sums(records: Pick<ArtifactRecord, 'file' | 'sha256'>[]): string {
  for (const r of records) {
    if (/[\n\\/]/.test(r.file)) throw new Error(`artifact name "${r.file}" cannot go into SHA256SUMS`);
  }
  return [...records]
    .sort((a, b) => (a.file < b.file ? -1 : 1))
    .map((r) => `${r.sha256}  ${r.file}\n`)
    .join('');
}
