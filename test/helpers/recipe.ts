// A ResolvedRecipe for tests that must not reach the mirror: validated like a real recipe, with a
// fixed mirror state standing in for the InRelease lookup of every Debian source (extra
// repositories need their real InRelease and key, so tests with them resolve for real).
import path from 'node:path';
import { validateRecipe } from '../../pipeline/recipe/load.ts';
import type { ResolvedRecipe, ResolvedSource } from '../../pipeline/recipe/resolve.ts';
import type { Recipe, RecipeInput } from '../../pipeline/recipe/schema.ts';
import type { MirrorState } from '../../pipeline/mirror.ts';
import { REPO } from './paths.ts';

export const FIXED_MIRROR: MirrorState = {
  inReleaseSha256: 'a'.repeat(64),
  date: 1_760_000_000,
  codename: 'trixie',
  suite: 'stable',
  components: ['main'],
  architectures: ['amd64'],
  dist: 'trixie',
  packagesIndexes: {},
  byHash: true,
  separateAllIndex: false,
};

export function resolvedRecipe(input: RecipeInput, mirror: Partial<MirrorState> = {}): ResolvedRecipe {
  const loaded = validateRecipe(input, path.join(REPO, 'recipes/test.ts'));
  const mirrorState = { ...FIXED_MIRROR, ...mirror };
  return {
    ...loaded.recipe,
    file: loaded.file,
    digest: 'test',
    overlayRefs: loaded.overlays,
    mirrorState,
    aptSources: debianSources(loaded.recipe, mirrorState),
    sourceDateEpoch: loaded.recipe.sourceDateEpoch ?? mirrorState.date,
  };
}

/** The Debian sources resolve would find, each with the given state under its own dist. */
export function debianSources(r: Recipe, state: MirrorState): ResolvedSource[] {
  const at = (name: string, field: string, uri: string, dist: string): ResolvedSource => ({
    name,
    field,
    uri,
    dist,
    components: r.components,
    state: { ...state, dist },
  });
  return [
    at('debian', 'suite', r.mirror, r.suite),
    ...(r.sources.updates ? [at('debian-updates', 'sources.updates', r.mirror, `${state.codename}-updates`)] : []),
    ...(r.sources.security ? [at('debian-security', 'sources.security', r.sources.securityMirror, `${state.codename}-security`)] : []),
  ];
}
