// Resolving a recipe against its sources: the suite must exist, the components and architecture must
// be in its Release, every other source must be there (and an extra repository signed by its key),
// every package must be in one of their indexes, and SOURCE_DATE_EPOCH gets its default (the newest
// Release date). Reads: mirror, suite, components, architecture, sources, repositories, packages,
// sourceDateEpoch.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { RecipeError } from '../errors.ts';
import { requireTools } from '../build-machine.ts';
import { fetchInRelease, packageNames, type MirrorState } from '../mirror.ts';
import { resolveSources, type ResolvedSource } from '../sources/resolve-sources.ts';
import type { RetryOptions } from '../util/fetch-retry.ts';
import { didYouMean } from './issues.ts';
import type { LoadedRecipe } from './load.ts';
import type { OverlayRef } from './rules.ts';
import type { Recipe } from './schema.ts';

/** The recipe after validation and resolution: everything the stages need, nothing left to look up. */
export interface ResolvedRecipe extends Recipe {
  file: string;
  /** sha256 of the validated recipe, recorded in the manifest. */
  digest: string;
  overlayRefs: OverlayRef[];
  /** The recipe's suite on its mirror. */
  mirrorState: MirrorState;
  /** Every apt source, the recipe's suite first, each with the InRelease it was resolved against. */
  aptSources: ResolvedSource[];
  sourceDateEpoch: number;
}

export type { ResolvedSource };

const DEBIAN_SUITES = ['buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'duke', 'sid', 'stable', 'testing', 'unstable', 'oldstable', 'oldoldstable'];

export async function resolveRecipe(loaded: LoadedRecipe, cacheDir: string, opts: RetryOptions = {}): Promise<ResolvedRecipe> {
  const { recipe } = loaded;
  const lookup = await fetchInRelease(recipe.mirror, recipe.suite, opts);
  if (!lookup.found) {
    const hint = didYouMean(recipe.suite, DEBIAN_SUITES);
    throw new RecipeError(
      `suite: "${recipe.suite}" is not a suite on ${recipe.mirror} (HTTP ${lookup.status} for its InRelease)${hint ? ` (did you mean "${hint}"?)` : ''}`,
    );
  }
  const state = lookup.state;
  const problems: string[] = [];
  recipe.components.forEach((c, i) => {
    if (state.components.length && !state.components.includes(c))
      problems.push(`components[${i}]: "${c}" is not in ${recipe.suite} (it has ${state.components.join(', ')})`);
  });
  if (state.architectures.length && !state.architectures.includes(recipe.architecture)) {
    problems.push(`architecture: "${recipe.architecture}" is not built for ${recipe.suite} (it has ${state.architectures.join(', ')})`);
  }
  if (problems.length) throw new RecipeError(problems);

  if (recipe.repositories.length) requireTools(['gpg', 'gpgv']);
  const sources = await resolveSources(recipe, state, path.dirname(loaded.file), opts);
  const names = new Map<string, string>();
  for (const source of sources) {
    for (const [name] of await packageNames(source.uri, source.state, source.components, recipe.architecture, cacheDir, opts)) {
      if (!names.has(name)) names.set(name, source.name);
    }
  }
  const where = sources.map((s) => `${s.key ? `${s.name} ` : ''}${s.dist} ${s.components.join('/')}`).join(', ');
  recipe.packages.forEach((p, i) => {
    if (!names.has(p)) {
      const hint = didYouMean(p, names.keys());
      problems.push(`packages[${i}]: "${p}" is not in ${where}${hint ? ` (did you mean "${hint}"?)` : ''}`);
    }
  });
  const dup = recipe.packages.findIndex((p, i) => recipe.packages.indexOf(p) !== i);
  if (dup !== -1) problems.push(`packages[${dup}]: "${recipe.packages[dup]}" is listed twice`);
  if (problems.length) throw new RecipeError(problems);

  return {
    ...recipe,
    file: loaded.file,
    digest: createHash('sha256').update(JSON.stringify(recipe)).digest('hex'),
    overlayRefs: loaded.overlays,
    mirrorState: state,
    aptSources: sources,
    // The newest Release: a security update after the suite's last point release moves it too.
    sourceDateEpoch: recipe.sourceDateEpoch ?? Math.max(...sources.map((s) => s.state.date)),
  };
}
