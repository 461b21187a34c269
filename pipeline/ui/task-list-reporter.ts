// The live task list on a terminal (listr2): one row per planned stage with its cache status,
// progress and duration. listr2 wants to run the tasks itself, so each row's task just waits for
// the runner's events; the pipeline never knows the list exists.
import { Listr, type ListrTaskWrapper, type ListrDefaultRenderer, type ListrSimpleRenderer } from 'listr2';
import type { CacheStatus } from '../cache.ts';
import type { StageName } from '../stage.ts';
import { formatDuration } from './format.ts';
import type { Plan, Reporter, StageOutcome } from './reporter.ts';

type Task = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;

interface Row {
  title: string;
  task?: Task;
  pendingTitle?: string;
  pendingOutput?: string;
  finish?: (err?: Error) => void;
  settled?: { outcome: StageOutcome | 'not-run'; error?: Error };
}

export class TaskListReporter implements Reporter {
  private rows = new Map<StageName, Row>();
  private running?: Promise<unknown>;
  private readonly verbose: boolean;

  constructor(verbose: boolean) {
    this.verbose = verbose;
  }

  plan(plan: Plan): void {
    const list = new Listr(
      plan.stages.map((s) => {
        const row: Row = { title: s.title };
        this.rows.set(s.stage, row);
        return {
          title: s.title,
          task: (_ctx: unknown, task: Task) =>
            new Promise<void>((resolve, reject) => {
              row.task = task;
              if (row.pendingTitle) task.title = row.pendingTitle;
              if (row.pendingOutput) task.output = row.pendingOutput;
              row.finish = (err) => (err ? reject(err) : resolve());
              if (row.settled) this.settle(row);
            }),
        };
      }),
      { concurrent: false, exitOnError: true, rendererOptions: { collapseSubtasks: false, bottomBar: this.verbose ? 8 : 1, persistentOutput: false } as never },
    );
    this.running = list.run().catch(() => undefined);
  }

  private update(stage: StageName, fn: (row: Row) => { title?: string; output?: string }): void {
    const row = this.rows.get(stage);
    if (!row) return;
    const { title, output } = fn(row);
    if (title !== undefined) {
      if (row.task) row.task.title = title;
      else row.pendingTitle = title;
    }
    if (output !== undefined) {
      if (row.task) row.task.output = output;
      else row.pendingOutput = output;
    }
  }

  stageStart(stage: StageName, cache: CacheStatus): void {
    this.update(stage, (r) => ({ title: cache === 'n/a' ? r.title : `${r.title} (cache ${cache})` }));
  }

  stageProgress(stage: StageName, text: string): void {
    this.update(stage, () => ({ output: text }));
  }

  toolOutput(stage: StageName, line: string): void {
    if (this.verbose) this.update(stage, () => ({ output: line }));
  }

  stageEnd(stage: StageName, outcome: StageOutcome, durationMs: number): void {
    const row = this.rows.get(stage);
    if (!row) return;
    this.update(stage, (r) => ({ title: `${r.title} [${outcome}, ${formatDuration(durationMs)}]` }));
    row.settled = { outcome, error: outcome === 'failed' || outcome === 'interrupted' ? new Error(`${stage} ${outcome}`) : undefined };
    if (row.finish) this.settle(row);
  }

  private settle(row: Row): void {
    if (row.settled?.outcome === 'not-run') row.task?.skip('not run');
    if (row.settled?.outcome === 'skipped') row.task?.skip(`${row.title}: nothing to do`);
    row.finish?.(row.settled?.error);
  }

  warn(text: string): void {
    process.stderr.write(`warning: ${text}\n`);
  }

  info(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  async done(): Promise<void> {
    for (const row of this.rows.values()) {
      if (!row.settled) {
        row.settled = { outcome: 'not-run' };
        if (row.finish) this.settle(row);
      }
    }
    await this.running;
  }
}
