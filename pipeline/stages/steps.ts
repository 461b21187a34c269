// Stage steps: the recipe's build-time commands, run in order as root inside the bootstrapped tree
// (systemd-nspawn, the build machine's network only for a step that asks for it), after the
// packages and before the overlays. Each step's files are copied in first. The stage has its own
// cache entry, keyed by every step's text and files on top of the bootstrap's key, so changing a
// step reruns the steps and not the bootstrap; a recipe without steps passes the tree on.
// Reads: steps, sourceDateEpoch.
import fs from 'node:fs';
import path from 'node:path';
import { requireTools } from '../build-machine.ts';
import { ImageRoot } from '../overlay/image-root.ts';
import { fromRecipe } from '../recipe/rules.ts';
import type { RootfsTree, Stage } from '../stage.ts';
import { ToolFailed } from '../util/exec.ts';
import { runInTree } from '../util/nspawn-run.ts';
import { fileSha256 } from '../util/tree-digest.ts';

/** The output lines of a failed step shown with its error (the log keeps them all). */
const TAIL_LINES = 20;
/**
 * nspawn's own line when it leaves its propagation directory to us on a /run that is not a tmpfs
 * (withMachine removes it): not the step's output, so not its progress or its error.
 */
const NSPAWN_CLEANUP_NOTICE = /^Attempted to remove disk file system under "\/run\/systemd\/nspawn\/propagate\//;

export const stepsStage: Stage<RootfsTree, RootfsTree> = {
  name: 'steps',
  version: 1,
  title: 'Run the build-time steps',

  verify(recipe) {
    if (recipe.steps.length) requireTools(['systemd-nspawn']);
  },

  cacheKey(r) {
    const dir = path.dirname(r.file);
    return {
      steps: r.steps.map((s) => ({
        name: s.name,
        run: s.run ?? null,
        script: s.script ?? null,
        network: s.network,
        files: s.files.map((f) => ({ to: f.to, mode: f.mode, sha256: fileSha256(fromRecipe(dir, f.from)) })),
      })),
      sourceDateEpoch: r.sourceDateEpoch,
    };
  },

  applies: (r) => r.steps.length > 0,

  async run(input, ctx) {
    const r = ctx.recipe;
    const image = new ImageRoot(input.rootfs);
    const env = { SOURCE_DATE_EPOCH: String(r.sourceDateEpoch), LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', HOME: '/root' };
    for (const [i, step] of r.steps.entries()) {
      const label = `${i + 1}/${r.steps.length} ${step.name}`;
      ctx.progress(label);
      for (const f of step.files) {
        image.writeFile(f.to, fs.readFileSync(fromRecipe(path.dirname(r.file), f.from)), { mode: f.mode });
        ctx.log(`step ${step.name}: copied ${f.from} to ${f.to}`);
      }
      const command = step.run ?? ['/bin/sh', '-ec', step.script ?? ''];
      const output: string[] = [];
      try {
        await runInTree(ctx.tools, input.rootfs, command, {
          network: step.network,
          env,
          tool: {
            onLine: (line) => {
              if (NSPAWN_CLEANUP_NOTICE.test(line)) return;
              output.push(line);
              if (output.length > TAIL_LINES) output.shift();
              ctx.progress(`${label}: ${line.slice(0, 100)}`);
            },
          },
        });
      } catch (err) {
        if (!(err instanceof ToolFailed) || err.exitCode === undefined) throw err;
        throw new ToolFailed(
          err.command,
          err.exitCode,
          output,
          `step "${step.name}" (steps[${i}]) failed with exit code ${err.exitCode}`,
          `fix the step in the recipe${step.network ? '' : '; it has no network unless it sets network: true'}. ` +
            'To try it by hand: build --stop-after bootstrap, then run it in systemd-nspawn -D OUT/rootfs',
        );
      }
    }
    return input;
  },

  cache: { treeOf: (out) => out.rootfs, fromTree: (rootfs) => ({ rootfs }) },
};
