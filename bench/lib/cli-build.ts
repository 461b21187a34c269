// Drives the real CLI, `pipeline/cli.ts build ... --json`, as a user would, and reads its JSON
// events: each stage's duration and cache outcome (stage-end), the result (artifacts or rootfs),
// or the error. The wall time includes everything the user waits for: node's start, loading the
// recipe, checking it against the mirror, every stage, and moving the tree into place.
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './paths.ts';
import type { StageName } from '../../pipeline/stage.ts';
import { runTimed, type TimedRun } from './proc.ts';

export interface StageTime {
  stage: string;
  outcome: string;
  ms: number;
}

export interface CliBuild {
  run: TimedRun;
  stages: StageTime[];
  /** Wall time not inside any stage: node start-up, recipe loading and mirror checks, exit. */
  outsideStagesMs: number;
  result?: { rootfs?: string; treeDigest?: string; artifacts?: Record<string, string> };
}

export interface CliBuildOptions {
  recipe: string;
  out: string;
  cacheDir: string;
  noCache?: boolean;
  stopAfter?: StageName;
  version?: string;
  fast?: boolean;
  sampleMs?: number;
  extraArgs?: string[];
}

export const CLI = path.join(REPO, 'pipeline/cli.ts');

/** node's flags on the CLI's "#!" line: benchmark workers that run pipeline code in-process use them too. */
export const CLI_NODE_FLAGS = (fs.readFileSync(CLI, 'utf8').split('\n', 1)[0] ?? '').split(/\s+/).filter((a) => a.startsWith('--'));

export function cliArgs(o: CliBuildOptions): string[] {
  return [
    CLI,
    'build',
    o.recipe,
    '--json',
    '--out',
    o.out,
    '--cache-dir',
    o.cacheDir,
    ...(o.noCache ? ['--no-cache'] : []),
    ...(o.stopAfter ? ['--stop-after', o.stopAfter] : []),
    ...(o.version ? ['--version', o.version] : []),
    ...(o.fast ? ['--fast'] : []),
    ...(o.extraArgs ?? []),
  ];
}

/** One build through the CLI; throws with the CLI's error event and stderr if it fails. */
export async function cliBuild(o: CliBuildOptions): Promise<CliBuild> {
  const stages: StageTime[] = [];
  let result: CliBuild['result'];
  let error: unknown;
  // The CLI runs through its own "#!" line, as `npx ephemeral-builder` runs it (the line carries
  // node's flags); its `node` is this one, Node 24 (bench/run.ts runs under it).
  const [cli, ...args] = cliArgs(o);
  const run = await runTimed(cli as string, args, {
    cwd: REPO,
    keepStdout: false,
    sampleMs: o.sampleMs,
    env: { CI: '1', PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    onLine: (line) => {
      if (!line.startsWith('{')) return;
      const ev = JSON.parse(line) as { event: string; stage?: string; outcome?: string; durationMs?: number; result?: CliBuild['result'] };
      if (ev.event === 'stage-end') stages.push({ stage: ev.stage ?? '?', outcome: ev.outcome ?? '?', ms: ev.durationMs ?? 0 });
      if (ev.event === 'result') result = ev.result;
      if (ev.event === 'error') error = ev;
    },
  });
  if (run.exitCode !== 0) {
    throw new Error(`build ${o.recipe} failed (exit ${run.exitCode}): ${JSON.stringify(error)}\n${run.stderr.trim().split('\n').slice(-20).join('\n')}`);
  }
  const inStages = stages.reduce((a, s) => a + s.ms, 0);
  return { run, stages, outsideStagesMs: Math.max(0, run.wallMs - inStages), result };
}
