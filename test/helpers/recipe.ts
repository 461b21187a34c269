// A ResolvedRecipe for tests that must not reach the mirror: validated like a real recipe, with a
// fixed mirror state standing in for the InRelease lookup.
import path from 'node:path';
import { validateRecipe } from '../../pipeline/recipe/load.ts';
import type { ResolvedRecipe } from '../../pipeline/recipe/resolve.ts';
import type { RecipeInput } from '../../pipeline/recipe/schema.ts';
import type { MirrorState } from '../../pipeline/mirror.ts';
import { REPO } from './paths.ts';

export const FIXED_MIRROR: MirrorState = {
  inReleaseSha256: 'a'.repeat(64), date: 1_760_000_000, codename: 'trixie', suite: 'stable', components: ['main'], architectures: ['amd64'],
};

export function resolvedRecipe(input: RecipeInput, mirror: Partial<MirrorState> = {}): ResolvedRecipe {
  const loaded = validateRecipe(input, path.join(REPO, 'recipes/test.ts'));
  const mirrorState = { ...FIXED_MIRROR, ...mirror };
  return {
    ...loaded.recipe, file: loaded.file, digest: 'test', overlayRefs: loaded.overlays, mirrorState,
    sourceDateEpoch: loaded.recipe.sourceDateEpoch ?? mirrorState.date,
  };
}
