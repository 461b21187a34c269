// The overlay example of docs/overlays.md works as the guide says: its recipe validates with the
// example overlay in place (before hygiene), the overlay's files/ and overlay.ts applied to an
// image root write what the guide shows, and the profile script is silent when a login shell
// sources it without a terminal, as GitLab Runner's `bash -l` does.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { copyFilesInto } from '../../pipeline/overlay/copy-files.ts';
import type { OverlayDefinition } from '../../pipeline/overlay/define.ts';
import { ImageRoot } from '../../pipeline/overlay/image-root.ts';
import { loadRecipe } from '../../pipeline/recipe/load.ts';
import { tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { REPO } from '../helpers/paths.ts';
import { resolvedRecipe } from '../helpers/recipe.ts';

const EXAMPLE = path.join(REPO, 'docs/examples/overlays/ci-env');

// Applying files/ chowns to root, as the real build does.
describeWith({ root: true, tools: ['bash', 'git'] }, 'the overlay example in docs/overlays.md', () => {
  const root = tempDir('example-overlay');
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('its recipe validates, with the example overlay before hygiene', async () => {
    const loaded = await loadRecipe(path.join(REPO, 'docs/examples/ci-env-recipe.ts'));
    expect(loaded.overlays.map((o) => o.name).slice(-2)).toEqual(['./overlays/ci-env', 'hygiene']);
    expect(loaded.overlays.find((o) => o.name === './overlays/ci-env')?.dir).toBe(EXAMPLE);
    expect(loaded.recipe.packages).toEqual(['openssh-server', 'git', 'bash']);
  });

  it('writes the gitconfig and a profile script whose MAKEFLAGS follow limits.cpu', async () => {
    const image = new ImageRoot(root);
    expect(copyFilesInto(path.join(EXAMPLE, 'files'), image)).toBe(2);
    const def = (await import(pathToFileURL(path.join(EXAMPLE, 'overlay.ts')).href)).default as OverlayDefinition;
    const logged: string[] = [];
    const run = () => Promise.reject(new Error('the example overlay runs no tool'));
    await def.apply({ image, recipe: resolvedRecipe({ limits: { cpu: '300%' } }), workDir: root, run, log: (l) => logged.push(l) });
    expect(logged).toEqual(['MAKEFLAGS=-j3']);
    const branch = await execa('git', ['config', '--file', path.join(root, 'etc/gitconfig'), '--get', 'init.defaultBranch']);
    expect(branch.stdout).toBe('main');
    const profile = path.join(root, 'etc/profile.d/ci-env.sh');
    expect(fs.statSync(profile).mode & 0o777).toBe(0o644);
    const sourced = await execa('bash', ['--noprofile', '--norc', '-c', `. ${profile} && printf '%s|%s' "$MAKEFLAGS" "$XDG_CACHE_HOME"`], {
      env: { HOME: '/home/builder' },
      extendEnv: false,
      stdin: 'ignore',
    });
    expect(sourced.stdout).toBe('-j3|/home/builder/.cache');
    expect(sourced.stderr).toBe('');
  });
});
