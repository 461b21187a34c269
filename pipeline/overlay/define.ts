// defineOverlay(): what an overlay's optional overlay.ts exports. Its apply() gets an ImageRoot,
// whose every path is resolved inside the image, so an overlay cannot write outside the root.
import type { ResolvedRecipe } from '../recipe/resolve.ts';
import type { RunTool } from '../util/exec.ts';
import type { ImageRoot } from './image-root.ts';

export interface OverlayContext {
  readonly image: ImageRoot;
  readonly recipe: ResolvedRecipe;
  /** Scratch space on the build machine, removed when the build ends. */
  readonly workDir: string;
  /** Runs a build machine's tool (its output goes to the stage log) and returns its stdout. */
  readonly run: RunTool;
  log(line: string): void;
}

export interface OverlayDefinition {
  /** One line: what the overlay changes in the image, shown in logs and docs. */
  description: string;
  /** Optional: refuses, before the bootstrap runs, what apply() would fail on (a missing tool). */
  verify?(recipe: ResolvedRecipe): void;
  apply(ctx: OverlayContext): Promise<void> | void;
}

export function defineOverlay(def: OverlayDefinition): OverlayDefinition {
  return def;
}
