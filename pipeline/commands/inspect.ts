// The `outdated` and `diff` commands: read the images the user names (pipeline/inspect), print a
// human table or Markdown, or JSON with --json, to stdout or atomically to --output. They never
// build anything; `outdated` reserves exit status 1 for "something is behind" (see cli.ts).
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { stableJson } from '../pack/manifest.ts';
import { loadImageRecord } from '../inspect/image-record.ts';
import { diffImages, renderDiffMarkdown } from '../inspect/diff.ts';
import { findOutdated, parseRewrites, renderOutdated } from '../inspect/outdated.ts';
import { loadRecipe } from '../recipe/load.ts';
import { writeFileAtomic } from '../util/fs-atomic.ts';

export interface InspectFlags {
  json?: boolean;
  output?: string;
}

function emit(text: string, flags: InspectFlags): void {
  if (flags.output) writeFileAtomic(path.resolve(flags.output), text);
  else process.stdout.write(text);
}

/** What to check: a manifest, a URL, an image .deb or directory, or a recipe (its last build's manifest in --out). */
async function imageFor(target: string, out: string) {
  if (target.endsWith('.ts') && fs.existsSync(target)) {
    const { recipe } = await loadRecipe(target);
    const manifest = path.join(out, 'manifest.json');
    if (!fs.existsSync(manifest)) throw new UsageError(`${manifest}: no build of ${target} here; build it first, or pass --out DIR of its build`);
    const record = await loadImageRecord(manifest);
    if (record.name !== recipe.name)
      throw new UsageError(`${manifest} is a build of ${record.name}, not of ${target} (${recipe.name}); pass --out DIR of its build`);
    return record;
  }
  return loadImageRecord(target);
}

export interface OutdatedFlags extends InspectFlags {
  out: string;
  rewrite: string[];
}

/** Returns the exit status: 0 when nothing is behind, 1 when something is. */
export async function outdatedCommand(target: string, flags: OutdatedFlags): Promise<number> {
  const rewrite = parseRewrites(flags.rewrite);
  const report = await findOutdated(await imageFor(target, flags.out), rewrite);
  emit(flags.json ? stableJson(report) : renderOutdated(report), flags);
  return report.packages.length ? 1 : 0;
}

export async function diffCommand(a: string, b: string, flags: InspectFlags): Promise<void> {
  const diff = diffImages(await loadImageRecord(a), await loadImageRecord(b));
  for (const w of diff.warnings) process.stderr.write(`warning: ${w}\n`);
  emit(flags.json ? stableJson(diff) : renderDiffMarkdown(diff), flags);
}
