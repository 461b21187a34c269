// The plan: stage keys are explicit manifests of every input, chained stage to stage, so that a
// mirror update (of any source: the suite, its security suite, an extra repository) invalidates
// the bootstrap, a changed build-time step reruns the steps but not the bootstrap, and an overlay
// edit invalidates only what follows it.
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
import type { ResolvedRecipe } from '../../pipeline/recipe/resolve.ts';
import type { MirrorState } from '../../pipeline/mirror.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function planOf(input: RecipeInput, mirror: Partial<MirrorState> = {}, cacheDir = tempDir('plan'), change = (r: ResolvedRecipe) => r) {
  dirs.push(cacheDir);
  const runner = new StageRunner(change(resolvedRecipe(input, mirror)), {
    cache: new Cache(cacheDir, true),
    reporter: new PlainReporter(false, () => {}),
    signal: new AbortController().signal,
    scratchRoot: cacheDir,
  });
  const plan = runner.plan(PIPELINE);
  return Object.fromEntries(plan.stages.map((s) => [s.stage, s]));
}

const base: RecipeInput = { packages: ['openssh-server', 'git'] };

describe('plan', () => {
  it('lists every stage with a key, and a miss for an empty cache', () => {
    const plan = planOf(base);
    expect(Object.keys(plan)).toEqual(['bootstrap', 'steps', 'overlays', 'verify', 'pack']);
    expect(plan.bootstrap?.cache).toBe('miss');
    expect(plan.bootstrap?.key).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.bootstrap?.manifest).toMatchObject({ stage: 'bootstrap', inputs: { packages: ['git', 'openssh-server'] } });
    // The suite, its updates and its security suite, each with its InRelease.
    const sources = (plan.bootstrap!.manifest.inputs as { sources: { suite: string; uri: string; inReleaseSha256: string }[] }).sources;
    expect(sources.map((s) => `${s.suite} ${s.uri}`)).toEqual([
      'trixie http://deb.debian.org/debian',
      'trixie-updates http://deb.debian.org/debian',
      'trixie-security http://deb.debian.org/debian-security',
    ]);
    expect(sources.every((s) => s.inReleaseSha256 === 'a'.repeat(64))).toBe(true);
    // Nothing to run: no cache entry for the steps either.
    expect(plan.steps?.cache).toBe('n/a');
  });

  it("a new security update (the security suite's InRelease alone changes) invalidates the bootstrap", () => {
    const before = planOf(base);
    const after = planOf(base, {}, undefined, (r) => ({
      ...r,
      aptSources: r.aptSources.map((s) => (s.name === 'debian-security' ? { ...s, state: { ...s.state, inReleaseSha256: 'c'.repeat(64) } } : s)),
    }));
    expect(after.bootstrap?.key).not.toBe(before.bootstrap?.key);
  });

  it('turning the security or updates suite off changes the bootstrap key', () => {
    const keys = new Set([base, { ...base, sources: { security: false } }, { ...base, sources: { updates: false } }].map((r) => planOf(r).bootstrap?.key));
    expect(keys.size).toBe(3);
  });

  it('a changed step (its text, order or file) keeps the bootstrap key and changes the steps key and all after it', () => {
    const dir = tempDir('step-file');
    dirs.push(dir);
    const file = path.join(dir, 'ca.crt');
    fs.writeFileSync(file, 'one\n');
    const step = (script: string) => ({ name: 'ca', script, files: [{ from: file, to: '/usr/local/share/ca-certificates/ca.crt' }] });
    const before = planOf({ ...base, steps: [step('update-ca-certificates')] });
    expect(before.steps?.cache).toBe('miss');
    const variants = [
      planOf({ ...base, steps: [step('update-ca-certificates --fresh')] }),
      planOf({ ...base, steps: [step('update-ca-certificates'), { name: 'locale', run: ['locale-gen'] }] }),
      planOf({ ...base, steps: [{ name: 'locale', run: ['locale-gen'] }, step('update-ca-certificates')] }),
    ];
    fs.writeFileSync(file, 'two\n');
    variants.push(planOf({ ...base, steps: [step('update-ca-certificates')] }));
    for (const after of variants) {
      expect(after.bootstrap?.key).toBe(before.bootstrap?.key);
      for (const stage of ['steps', 'overlays', 'verify', 'pack']) expect(after[stage]?.key).not.toBe(before[stage]?.key);
    }
    expect(new Set(variants.map((v) => v.steps?.key)).size).toBe(variants.length);
  });

  it('is deterministic, and package order does not matter', () => {
    expect(planOf(base).pack?.key).toBe(planOf(base).pack?.key);
    expect(planOf({ packages: ['git', 'openssh-server'] }).bootstrap?.key).toBe(planOf(base).bootstrap?.key);
  });

  it('a mirror update (new InRelease) invalidates the bootstrap and everything after it', () => {
    const before = planOf(base);
    const after = planOf(base, { inReleaseSha256: 'b'.repeat(64) });
    for (const stage of ['bootstrap', 'steps', 'overlays', 'verify', 'pack']) expect(after[stage]?.key).not.toBe(before[stage]?.key);
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
