// The plan: stage keys are explicit manifests of every input, chained stage to stage, so that a
// mirror update invalidates the bootstrap and an overlay edit invalidates only what follows it.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PIPELINE } from '../../pipeline/build.ts';
import { Cache } from '../../pipeline/cache.ts';
import { StageRunner } from '../../pipeline/runner.ts';
import { PlainReporter } from '../../pipeline/ui/plain-reporter.ts';
import { tempDir } from '../helpers/cli.ts';
import { resolvedRecipe } from '../helpers/recipe.ts';
import type { RecipeInput } from '../../pipeline/recipe/schema.ts';
import type { MirrorState } from '../../pipeline/mirror.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function planOf(input: RecipeInput, mirror: Partial<MirrorState> = {}, cacheDir = tempDir('plan')) {
  dirs.push(cacheDir);
  const runner = new StageRunner(resolvedRecipe(input, mirror), {
    cache: new Cache(cacheDir, true), reporter: new PlainReporter(false, () => {}), signal: new AbortController().signal, scratchRoot: cacheDir,
  });
  const plan = runner.plan(PIPELINE);
  return Object.fromEntries(plan.stages.map((s) => [s.stage, s]));
}

const base: RecipeInput = { packages: ['openssh-server', 'git'] };

describe('plan', () => {
  it('lists every stage with a key, and a miss for an empty cache', () => {
    const plan = planOf(base);
    expect(Object.keys(plan)).toEqual(['bootstrap', 'overlays', 'verify', 'pack']);
    expect(plan.bootstrap?.cache).toBe('miss');
    expect(plan.bootstrap?.key).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.bootstrap?.manifest).toMatchObject({ stage: 'bootstrap', inputs: { packages: ['git', 'openssh-server'], inRelease: 'a'.repeat(64) } });
  });

  it('is deterministic, and package order does not matter', () => {
    expect(planOf(base).pack?.key).toBe(planOf(base).pack?.key);
    expect(planOf({ packages: ['git', 'openssh-server'] }).bootstrap?.key).toBe(planOf(base).bootstrap?.key);
  });

  it('a mirror update (new InRelease) invalidates the bootstrap and everything after it', () => {
    const before = planOf(base);
    const after = planOf(base, { inReleaseSha256: 'b'.repeat(64) });
    for (const stage of ['bootstrap', 'overlays', 'verify', 'pack']) expect(after[stage]?.key).not.toBe(before[stage]?.key);
  });

  it('an overlay change keeps the bootstrap key and changes the overlays key', () => {
    const before = planOf(base);
    const after = planOf({ ...base, user: { uid: 9100, gid: 9100 } });
    expect(after.bootstrap?.key).toBe(before.bootstrap?.key);
    expect(after.overlays?.key).not.toBe(before.overlays?.key);
  });

  it('editing a file in an overlay changes the overlays key only from there on', () => {
    const overlay = tempDir('overlay');
    dirs.push(overlay);
    fs.mkdirSync(path.join(overlay, 'files/etc'), { recursive: true });
    fs.writeFileSync(path.join(overlay, 'files/etc/motd'), 'one\n');
    const recipe = { ...base, overlays: ['builder-user', overlay, 'hygiene'] };
    const before = planOf(recipe);
    fs.writeFileSync(path.join(overlay, 'files/etc/motd'), 'two\n');
    const after = planOf(recipe);
    expect(after.bootstrap?.key).toBe(before.bootstrap?.key);
    expect(after.overlays?.key).not.toBe(before.overlays?.key);
    expect(after.verify?.key).not.toBe(before.verify?.key);
  });

  it('shows a hit when the cache holds the entry', () => {
    const cacheDir = tempDir('plan-hit');
    const key = planOf(base, {}, cacheDir).bootstrap?.key as string;
    fs.mkdirSync(path.join(cacheDir, 'bootstrap', key), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, 'bootstrap', key, 'entry.json'), '{}');
    expect(planOf(base, {}, cacheDir).bootstrap?.cache).toBe('hit');
  });
});
