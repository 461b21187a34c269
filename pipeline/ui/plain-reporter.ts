// Plain timestamped lines, for CI logs and pipes: one line per stage event, tool output prefixed
// with its stage in verbose mode. Writes to stderr so stdout stays free for results.
import type { CacheStatus } from '../cache.ts';
import type { StageName } from '../stage.ts';
import { formatDuration } from './format.ts';
import type { Plan, Reporter, StageOutcome } from './reporter.ts';

export class PlainReporter implements Reporter {
  private readonly verbose: boolean;
  private readonly write: (line: string) => void;
  private lastProgress = new Map<StageName, string>();

  constructor(verbose: boolean, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
    this.verbose = verbose;
    this.write = write;
  }

  private line(text: string): void {
    this.write(`${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} ${text}`);
  }

  plan(plan: Plan): void {
    this.line(`plan for ${plan.recipe.name} ${plan.recipe.version} (${plan.recipe.suite}) from ${plan.recipe.file}`);
    for (const s of plan.sources) this.line(`  source    ${s.source} (InRelease ${s.inReleaseSha256.slice(0, 12)})`);
    for (const s of plan.stages) this.line(`  ${s.stage.padEnd(9)} key ${s.key.slice(0, 12)}  cache ${s.cache}`);
  }

  stageStart(stage: StageName, cache: CacheStatus): void {
    this.line(`${stage}: start${cache === 'n/a' ? '' : ` (cache ${cache})`}`);
  }

  stageProgress(stage: StageName, text: string): void {
    if (this.lastProgress.get(stage) === text) return;
    this.lastProgress.set(stage, text);
    this.line(`${stage}: ${text}`);
  }

  toolOutput(stage: StageName, line: string): void {
    if (this.verbose) this.write(`${stage}| ${line}`);
  }

  stageEnd(stage: StageName, outcome: StageOutcome, durationMs: number): void {
    this.line(`${stage}: ${outcome} in ${formatDuration(durationMs)}`);
  }

  warn(text: string): void {
    this.line(`warning: ${text}`);
  }

  info(text: string): void {
    this.line(text);
  }

  async done(): Promise<void> {}
}
