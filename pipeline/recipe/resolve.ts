// Resolving a recipe against the mirror: the suite must exist, the components and architecture must
// be in its Release, every package must be in its index, and SOURCE_DATE_EPOCH gets its default
// (the Release date). Reads: mirror, suite, components, architecture, packages, sourceDateEpoch.
import { createHash } from 'node:crypto';
import { RecipeError } from '../errors.ts';
import { fetchInRelease, packageNames, type MirrorState } from '../mirror.ts';
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
  mirrorState: MirrorState;
  sourceDateEpoch: number;
}

const DEBIAN_SUITES = ['buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'duke', 'sid', 'stable', 'testing', 'unstable',
  'oldstable', 'oldoldstable'];

export async function resolveRecipe(loaded: LoadedRecipe, cacheDir: string, opts: RetryOptions = {}): Promise<ResolvedRecipe> {
  const { recipe } = loaded;
  const lookup = await fetchInRelease(recipe.mirror, recipe.suite, opts);
  if (!lookup.found) {
    const hint = didYouMean(recipe.suite, DEBIAN_SUITES);
    throw new RecipeError(`suite: "${recipe.suite}" is not a suite on ${recipe.mirror} (HTTP ${lookup.status} for its InRelease)${hint ? ` (did you mean "${hint}"?)` : ''}`);
  }
  const state = lookup.state;
  const problems: string[] = [];
  recipe.components.forEach((c, i) => {
    if (state.components.length && !state.components.includes(c)) problems.push(`components[${i}]: "${c}" is not in ${recipe.suite} (it has ${state.components.join(', ')})`);
  });
  if (state.architectures.length && !state.architectures.includes(recipe.architecture)) {
    problems.push(`architecture: "${recipe.architecture}" is not built for ${recipe.suite} (it has ${state.architectures.join(', ')})`);
  }
  if (problems.length) throw new RecipeError(problems);

  const names = await packageNames(recipe.mirror, state, recipe.components, recipe.architecture, cacheDir, opts);
  recipe.packages.forEach((p, i) => {
    if (!names.has(p)) {
      const hint = didYouMean(p, names.keys());
      problems.push(`packages[${i}]: "${p}" is not in ${recipe.suite} ${recipe.components.join('/')}${hint ? ` (did you mean "${hint}"?)` : ''}`);
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
    sourceDateEpoch: recipe.sourceDateEpoch ?? state.date,
  };
}
