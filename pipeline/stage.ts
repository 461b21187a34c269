// The stage contract every pipeline step follows (verify / cacheKey / run, typed input and output),
// and the tree types stages hand to each other. No stage reads another's state: what a stage needs
// comes in as its input, and the recipe, which is read-only, comes in the context.
import type { ResolvedRecipe } from './recipe/resolve.ts';
import type { ToolRunner } from './util/exec.ts';

export const STAGE_NAMES = ['bootstrap', 'steps', 'overlays', 'verify', 'pack'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export interface StageContext {
  readonly recipe: ResolvedRecipe;
  /** Scratch space of this build; removed when the build ends, whatever the outcome. */
  readonly workDir: string;
  readonly signal: AbortSignal;
  /** Runs a tool of the build machine with its output kept in the stage log (and shown in verbose mode). */
  readonly tools: ToolRunner;
  /** A short status line for the UI ("unpacking 120/300"). */
  progress(text: string): void;
  /** A line for the stage log that is not a tool's output. */
  log(line: string): void;
  /** A problem worth knowing that does not fail the build. */
  warn(text: string): void;
}

export interface Stage<I, O> {
  readonly name: StageName;
  /** Bumped whenever the stage's behaviour changes, so that old cache entries stop matching. */
  readonly version: number;
  readonly title: string;
  /** Runs for every stage before any stage runs: refuse early what would fail late. */
  verify(recipe: ResolvedRecipe): Promise<void> | void;
  /** Every input of this stage as explicit JSON; hashed (with the previous stage's key) into its key. */
  cacheKey(recipe: ResolvedRecipe): Record<string, unknown>;
  run(input: I, ctx: StageContext): Promise<O>;
  /** Optional: false when the recipe gives the stage nothing to do; it then passes its input on, uncached. */
  applies?(recipe: ResolvedRecipe): boolean;
  /** Present when the stage's output is a tree worth caching. */
  readonly cache?: { treeOf(output: O): string; fromTree(rootfs: string): O };
}

/** A root filesystem on disk, owned by this build. */
export interface RootfsTree {
  rootfs: string;
}

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  /** The source package it was built from, and that source's version. */
  source: string;
  sourceVersion: string;
}

/** A root filesystem that passed the image lint, with what the manifest needs to know of it. */
export interface VerifiedTree extends RootfsTree {
  /** sha256 over every path, mode, owner, mtime and content, in bytewise path order. */
  treeDigest: string;
  packages: InstalledPackage[];
  sizeBytes: number;
  fileCount: number;
}
