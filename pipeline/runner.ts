// The stage runner: computes the plan (each stage's key and cache status) before anything runs,
// runs every stage's verify() up front, then runs stages one at a time with caching, a per-stage
// log, UI events and cancellation. It is the one place that adds context to errors: whatever a
// stage throws leaves here as a StageError naming the stage (or as the bad-input error it was).
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Cache, keyOf } from './cache.ts';
import { ToolMissing, Interrupted, RecipeError, StageError } from './errors.ts';
import type { ResolvedRecipe } from './recipe/resolve.ts';
import type { Stage, StageContext, StageName } from './stage.ts';
import type { Plan, PlanEntry, Reporter } from './ui/reporter.ts';
import { ToolFailed, ToolRunner } from './util/exec.ts';
import { unmountBelow } from './util/mounts.ts';

// Stages are heterogenous in their input and output; the runner does not look inside them.
// biome-ignore lint/suspicious/noExplicitAny: any stage's input and output, whatever they are
export type AnyStage = Stage<any, any>;

export interface RunnerOptions {
  cache: Cache;
  reporter: Reporter;
  signal: AbortSignal;
  /** Where the per-build scratch directory and logs go (inside the cache dir, same filesystem). */
  scratchRoot: string;
}

export class StageRunner {
  readonly workDir: string;
  readonly logDir: string;
  private keys = new Map<StageName, PlanEntry>();

  private readonly recipe: ResolvedRecipe;
  private readonly opts: RunnerOptions;
  constructor(recipe: ResolvedRecipe, opts: RunnerOptions) {
    this.recipe = recipe;
    this.opts = opts;
    this.workDir = path.join(opts.scratchRoot, `build-${process.pid}-${randomBytes(4).toString('hex')}`);
    this.logDir = path.join(this.workDir, 'logs');
  }

  /** The plan: pure apart from looking at which cache entries exist. */
  plan(stages: AnyStage[]): Plan {
    let previous = '';
    const entries: PlanEntry[] = [];
    for (const stage of stages) {
      const manifest = { stage: stage.name, stageVersion: stage.version, previous, inputs: stage.cacheKey(this.recipe) };
      const key = keyOf(manifest);
      const entry: PlanEntry = { stage: stage.name, title: stage.title, key, cache: this.opts.cache.status(stage.name, key, this.caches(stage)), manifest };
      entries.push(entry);
      this.keys.set(stage.name, entry);
      previous = key;
    }
    const r = this.recipe;
    return {
      recipe: { name: r.name, version: r.version, suite: r.suite, file: r.file, digest: r.digest },
      sources: r.aptSources.map((s) => ({ source: `${s.dist} ${s.components.join(' ')} ${s.uri}`, inReleaseSha256: s.state.inReleaseSha256 })),
      stages: entries,
    };
  }

  /** Every stage's verify(), before any stage runs. */
  async verifyAll(stages: AnyStage[]): Promise<void> {
    for (const stage of stages) {
      try {
        await stage.verify(this.recipe);
      } catch (err) {
        throw this.wrap(stage.name, err);
      }
    }
  }

  async run<I, O>(stage: Stage<I, O>, input: I): Promise<O> {
    const entry = this.keys.get(stage.name);
    if (!entry) throw new Error(`stage ${stage.name} is not in the plan`);
    const { reporter, cache, signal } = this.opts;
    fs.mkdirSync(this.logDir, { recursive: true });
    const logFile = path.join(this.logDir, `${stage.name}.log`);
    const tools = new ToolRunner(logFile, (line) => reporter.toolOutput(stage.name, line), signal);
    const ctx: StageContext = {
      recipe: this.recipe,
      workDir: this.workDir,
      signal,
      tools,
      progress: (text) => reporter.stageProgress(stage.name, text),
      log: (line) => tools.log(line),
      warn: (text) => {
        tools.log(`warning: ${text}`);
        reporter.warn(text);
      },
    };
    const started = Date.now();
    reporter.stageStart(stage.name, entry.cache);
    let release = () => {};
    try {
      this.checkSignal();
      if (stage.cache && this.caches(stage) && cache.enabled) {
        release = await cache.lock(
          stage.name,
          entry.key,
          (owner) => reporter.info(`${stage.name}: waiting for ${owner}, which is building the same cache entry`),
          signal,
        );
        const tree = path.join(this.workDir, `${stage.name}-rootfs`);
        if (await cache.restore(stage.name, entry.key, tree, tools, ctx.warn)) {
          reporter.stageEnd(stage.name, 'cached', Date.now() - started);
          return stage.cache.fromTree(tree);
        }
        fs.rmSync(tree, { recursive: true, force: true });
      }
      const output = await stage.run(input, ctx);
      this.checkSignal();
      if (!this.applies(stage)) {
        reporter.stageEnd(stage.name, 'skipped', Date.now() - started);
        return output;
      }
      if (stage.cache && this.caches(stage) && cache.enabled) {
        ctx.progress('saving to cache');
        await cache.store(stage.name, entry.key, stage.cache.treeOf(output), entry.manifest, tools);
      }
      reporter.stageEnd(stage.name, 'built', Date.now() - started);
      return output;
    } catch (err) {
      reporter.stageEnd(stage.name, signal.aborted ? 'interrupted' : 'failed', Date.now() - started);
      throw this.wrap(stage.name, err, tools, logFile);
    } finally {
      release();
    }
  }

  private applies(stage: AnyStage): boolean {
    return stage.applies?.(this.recipe) ?? true;
  }

  private caches(stage: AnyStage): boolean {
    return Boolean(stage.cache) && this.applies(stage);
  }

  /** Remove the scratch directory, first unmounting anything a tool left mounted inside it. */
  async dispose(): Promise<void> {
    await unmountBelow(this.workDir);
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Keep the logs of a failed build where the user can read them. */
  keepLogs(dest: string): string | undefined {
    if (!fs.existsSync(this.logDir)) return undefined;
    fs.mkdirSync(dest, { recursive: true });
    for (const f of fs.readdirSync(this.logDir)) fs.copyFileSync(path.join(this.logDir, f), path.join(dest, f));
    return dest;
  }

  private checkSignal(): void {
    if (this.opts.signal.aborted) throw this.opts.signal.reason instanceof Interrupted ? this.opts.signal.reason : new Interrupted();
  }

  private wrap(stage: StageName, err: unknown, tools?: ToolRunner, logFile?: string): Error {
    if (err instanceof StageError || err instanceof RecipeError || err instanceof ToolMissing) return err;
    if (this.opts.signal.aborted) return this.opts.signal.reason instanceof Interrupted ? this.opts.signal.reason : new Interrupted();
    if (err instanceof ToolFailed) {
      return new StageError(stage, err.message, err.hint ?? hintFor(err), err.tail, logFile, { cause: err });
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOSPC')
      return new StageError(
        stage,
        `no space left on device${e.path ? ` writing ${e.path}` : ''}`,
        'free disk space, or point --out / --cache-dir at a larger filesystem',
        tools?.lines(),
        logFile,
        { cause: err },
      );
    return new StageError(stage, e.message ?? String(err), undefined, tools?.lines(), logFile, { cause: err });
  }
}

function hintFor(err: ToolFailed): string | undefined {
  const text = err.tail.join('\n');
  if (/No space left on device/i.test(text)) return 'free disk space, or point --out / --cache-dir at a larger filesystem';
  if (/Could not resolve|Temporary failure resolving|Connection refused|Network is unreachable|Failed to fetch/i.test(text)) {
    return "the mirror is unreachable: check the network and the recipe's mirror";
  }
  return undefined;
}
