// What the pipeline tells the user, as events. The logic calls these; the three implementations
// (live task list, plain lines, JSON) decide how they look. Nothing here changes what is built.
import type { CacheStatus } from '../cache.ts';
import type { StageName } from '../stage.ts';

export interface PlanEntry {
  stage: StageName;
  title: string;
  /** sha256 over the stage's manifest and the previous stage's key. */
  key: string;
  cache: CacheStatus;
  manifest: Record<string, unknown>;
}

export interface Plan {
  recipe: { name: string; version: string; suite: string; file: string; digest: string };
  /** Every apt source, as `SUITE COMPONENTS URI`, with its InRelease digest. */
  sources: { source: string; inReleaseSha256: string }[];
  stages: PlanEntry[];
}

export type StageOutcome = 'built' | 'cached' | 'failed' | 'interrupted' | 'skipped';

export interface Reporter {
  plan(plan: Plan): void;
  stageStart(stage: StageName, cache: CacheStatus): void;
  stageProgress(stage: StageName, text: string): void;
  toolOutput(stage: StageName, line: string): void;
  stageEnd(stage: StageName, outcome: StageOutcome, durationMs: number): void;
  warn(text: string): void;
  info(text: string): void;
  /** The build is over: the result on success, nothing on failure (the CLI prints the error). */
  done(result?: unknown): Promise<void>;
}
