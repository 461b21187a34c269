// The few error classes the pipeline throws, and the one mapping from error to exit code.
// Context (which stage, which hint) is added in one place: the stage runner wraps whatever a
// stage throws into a StageError. The CLI's single top-level catch calls exitCodeFor().

/** Bad input the user can fix: a recipe field, a CLI argument. Exit 2. */
export class RecipeError extends Error {
  override name = 'RecipeError';
  /** Each problem as `path: message`, e.g. `packages[3]: "gti" is not in trixie main`. */
  readonly problems: string[];
  readonly hint?: string;
  constructor(problems: string[] | string, hint?: string) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.join('\n'));
    this.problems = list;
    this.hint = hint;
  }
}

/** Wrong command-line usage. Exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A tool the build needs is not installed (or we are not root). Exit 2: the build machine is the input. */
export class ToolMissing extends Error {
  override name = 'ToolMissing';
  readonly tool: string;
  readonly debianPackage: string;
  constructor(tool: string, debianPackage: string, message?: string) {
    super(message ?? `${tool} is not installed: apt-get install ${debianPackage}`);
    this.tool = tool;
    this.debianPackage = debianPackage;
  }
}

/** A stage failed while running. Exit 1. Keeps the tool's output so that nothing is lost. */
export class StageError extends Error {
  override name = 'StageError';
  readonly stage: string;
  readonly hint?: string;
  /** The last lines a tool wrote, shown on failure. */
  readonly outputTail?: string[];
  /** Where the full tool output was kept. */
  readonly logFile?: string;
  constructor(stage: string, message: string, hint?: string, outputTail?: string[], logFile?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.stage = stage;
    this.hint = hint;
    this.outputTail = outputTail;
    this.logFile = logFile;
  }
}

/** The build was interrupted (SIGINT/SIGTERM). Exit 128 + the signal's number, as shells report a death by it. */
export class Interrupted extends Error {
  override name = 'Interrupted';
  readonly signal: string;
  constructor(signal = 'SIGINT') {
    super(`interrupted by ${signal}`);
    this.signal = signal;
  }
}

export const EXIT = { ok: 0, failed: 1, badInput: 2, interrupted: 130, terminated: 143 } as const;

export function exitCodeFor(err: unknown): number {
  if (err instanceof Interrupted) return err.signal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
  if (err instanceof RecipeError || err instanceof UsageError || err instanceof ToolMissing) return EXIT.badInput;
  if (err instanceof StageError && err.cause instanceof Interrupted) return exitCodeFor(err.cause);
  if (err instanceof StageError && (err.cause instanceof RecipeError || err.cause instanceof ToolMissing)) return EXIT.badInput;
  return EXIT.failed;
}
