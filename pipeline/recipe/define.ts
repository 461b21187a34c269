// defineRecipe(): the helper every recipe module calls, so editors type-check the recipe as written.
// It validates nothing by itself; loadRecipe() validates at runtime (schema, then rules).
import type { RecipeInput } from './schema.ts';

export type { RecipeInput, Recipe } from './schema.ts';

/** Identity at runtime; gives recipes types and completion. Extend one recipe with a spread. */
export function defineRecipe<const T extends RecipeInput>(recipe: T): T {
  return recipe;
}
