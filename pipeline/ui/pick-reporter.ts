// Chooses how progress looks: a live task list on a terminal, plain timestamped lines when CI is
// set or output is not a terminal, JSON lines with --json.
import { JsonReporter } from './json-reporter.ts';
import { PlainReporter } from './plain-reporter.ts';
import type { Reporter } from './reporter.ts';
import { TaskListReporter } from './task-list-reporter.ts';

export function pickReporter(opts: { json: boolean; verbose: boolean }): Reporter {
  if (opts.json) return new JsonReporter(opts.verbose);
  if (process.env.CI || !process.stderr.isTTY || !process.stdout.isTTY) return new PlainReporter(opts.verbose);
  return new TaskListReporter(opts.verbose);
}
