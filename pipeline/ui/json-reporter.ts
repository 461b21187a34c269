// --json: one JSON object per line on stdout, for machines. The last line is the result (or the
// error, written by the CLI). Nothing else is written to stdout in this mode.
import type { CacheStatus } from '../cache.ts';
import type { StageName } from '../stage.ts';
import type { Plan, Reporter, StageOutcome } from './reporter.ts';

export class JsonReporter implements Reporter {
  private readonly verbose: boolean;
  constructor(verbose: boolean) {
    this.verbose = verbose;
  }

  private emit(event: string, data: Record<string, unknown>): void {
    process.stdout.write(`${JSON.stringify({ event, time: new Date().toISOString(), ...data })}\n`);
  }

  plan(plan: Plan): void {
    this.emit('plan', { plan });
  }

  stageStart(stage: StageName, cache: CacheStatus): void {
    this.emit('stage-start', { stage, cache });
  }

  stageProgress(stage: StageName, text: string): void {
    this.emit('stage-progress', { stage, text });
  }

  toolOutput(stage: StageName, line: string): void {
    if (this.verbose) this.emit('tool-output', { stage, line });
  }

  stageEnd(stage: StageName, outcome: StageOutcome, durationMs: number): void {
    this.emit('stage-end', { stage, outcome, durationMs });
  }

  warn(text: string): void {
    this.emit('warning', { text });
  }

  info(text: string): void {
    this.emit('info', { text });
  }

  async done(result?: unknown): Promise<void> {
    if (result !== undefined) this.emit('result', { result });
  }
}
