// defineOverlay(): what an overlay's optional overlay.ts exports. Its apply() gets an ImageRoot,
// whose every path is resolved inside the image, so an overlay cannot write outside the root.
import type { ResolvedRecipe } from '../recipe/resolve.ts';
import type { ImageRoot } from './image-root.ts';

export interface OverlayContext {
  readonly image: ImageRoot;
  readonly recipe: ResolvedRecipe;
  log(line: string): void;
}

export interface OverlayDefinition {
  /** One line: what the overlay changes in the image, shown in logs and docs. */
  description: string;
  apply(ctx: OverlayContext): Promise<void> | void;
}

export function defineOverlay(def: OverlayDefinition): OverlayDefinition {
  return def;
}
