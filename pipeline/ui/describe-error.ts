// Turns any error into what the user reads: the problem, the fix, and for a failed stage the last
// lines the tool wrote and where its full log is. Also a JSON form for --json.
import { ToolMissing, Interrupted, RecipeError, StageError, UsageError } from '../errors.ts';

export function describeError(err: unknown): { text: string; data: Record<string, unknown> } {
  if (err instanceof RecipeError) {
    const text = `error: the recipe is invalid:\n${err.problems.map((p) => `  ${p}`).join('\n')}${err.hint ? `\nhint: ${err.hint}` : ''}`;
    return { text, data: { kind: 'recipe', problems: err.problems, hint: err.hint } };
  }
  if (err instanceof UsageError) return { text: `error: ${err.message}\n(run with --help for usage)`, data: { kind: 'usage', message: err.message } };
  if (err instanceof ToolMissing)
    return { text: `error: ${err.message}`, data: { kind: 'tool', tool: err.tool, package: err.debianPackage, message: err.message } };
  if (err instanceof Interrupted)
    return {
      text: `interrupted (${err.signal}): stopped and cleaned up; nothing partial was left in the output or the cache`,
      data: { kind: 'interrupted', signal: err.signal },
    };
  if (err instanceof StageError) {
    const parts = [`error: stage ${err.stage} failed: ${err.message}`];
    if (err.hint) parts.push(`hint: ${err.hint}`);
    if (err.outputTail?.length) parts.push('last output:', ...err.outputTail.slice(-15).map((l) => `  | ${l}`));
    if (err.logFile) parts.push(`full log: ${err.logFile.replace(/\/tmp\/build-[^/]+\/logs\//, '/logs/last-failed/')}`);
    return { text: parts.join('\n'), data: { kind: 'stage', stage: err.stage, message: err.message, hint: err.hint, output: err.outputTail } };
  }
  const e = err as Error;
  return { text: `internal error: ${e?.stack ?? String(err)}`, data: { kind: 'internal', message: e?.message ?? String(err) } };
}
