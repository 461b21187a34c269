// The package's public API: what a team's recipe and overlay modules import from
// 'ephemeral-builder' (`import { defineRecipe } from 'ephemeral-builder'`), with their types.
export { defineRecipe } from './recipe/define.ts';
export type { Recipe, RecipeInput } from './recipe/schema.ts';
export type { ResolvedRecipe } from './recipe/resolve.ts';
export { defineOverlay } from './overlay/define.ts';
export type { OverlayContext, OverlayDefinition } from './overlay/define.ts';
export type { ImageRoot, WriteOptions } from './overlay/image-root.ts';
export { requireTools } from './build-machine.ts';
