// Recipe validation: schema messages with dot paths, did-you-mean for unknown keys, and the
// offline rules (system users, duplicate overlays, missing overlay dirs, escaping symlinks).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RecipeError } from '../../pipeline/errors.ts';
import { loadRecipe, validateRecipe } from '../../pipeline/recipe/load.ts';
import { REPO } from '../helpers/paths.ts';

const RECIPE_FILE = path.join(REPO, 'recipes/test-inline.ts');

function problemsOf(input: unknown, file = RECIPE_FILE): string[] {
  try {
    validateRecipe(input, file);
  } catch (err) {
    expect(err).toBeInstanceOf(RecipeError);
    return (err as RecipeError).problems;
  }
  throw new Error('expected the recipe to be rejected');
}

describe('recipe schema', () => {
  it("takes the architecture and the version from the command line over the recipe's (build --architecture, --version)", async () => {
    const minimal = path.join(REPO, 'recipes/minimal.ts');
    expect((await loadRecipe(minimal)).recipe.architecture).toBe('amd64');
    const { recipe } = await loadRecipe(minimal, { architecture: 'arm64', version: '1.2.3' });
    expect([recipe.architecture, recipe.version]).toEqual(['arm64', '1.2.3']);
  });

  it('fills defaults for an empty recipe', () => {
    const { recipe, overlays } = validateRecipe({}, RECIPE_FILE);
    expect(recipe.suite).toBe('trixie');
    expect(recipe.user).toEqual({ name: 'builder', uid: 9000, gid: 9000, shell: '/bin/bash' });
    expect(recipe.ssh).toEqual({ listenAddress: '127.0.0.1', port: 24 });
    expect(recipe.network).toBe('host');
    expect(overlays.map((o) => o.name)).toEqual(['builder-user', 'dotfiles', 'template-home', 'sshd', 'container-init', 'hygiene']);
  });

  it('names an unknown key with its dot path and suggests the right one', () => {
    expect(problemsOf({ user: { nmae: 'x' } })).toEqual(['user.nmae: unknown key (did you mean "name"?)']);
    expect(problemsOf({ pakages: [] })).toEqual(['pakages: unknown key (did you mean "packages"?)']);
  });

  it('reports wrong types and values at their index', () => {
    expect(problemsOf({ packages: ['git', 42] })).toEqual(['packages[1]: expected string, got number']);
    expect(problemsOf({ ssh: { port: 70000 } })).toEqual(['ssh.port: must be at most 65535']);
    expect(problemsOf({ ssh: { listenAddress: '1.2.3' } })[0]).toMatch(/^ssh\.listenAddress: must be an IPv4 or IPv6 address/);
    expect(problemsOf({ bootstrapper: 'cdebootstrap' })).toEqual(['bootstrapper: must be one of "mmdebstrap", "debootstrap"']);
    expect(problemsOf({ version: '1.4' })[0]).toMatch(/^version: must be a semantic version/);
    expect(problemsOf({ name: 'Bad/Name' })[0]).toMatch(/^name: must be 2-40 characters/);
    expect(problemsOf({ user: { uid: 0 } })).toEqual(['user.uid: must be at least 1000']);
  });

  it('takes network host or private, nothing else', () => {
    expect(validateRecipe({ network: 'private' }, RECIPE_FILE).recipe.network).toBe('private');
    expect(validateRecipe({ network: 'host' }, RECIPE_FILE).recipe.network).toBe('host');
    expect(problemsOf({ network: 'bridge' })).toEqual(['network: must be one of "host", "private"']);
    expect(problemsOf({ network: true })).toEqual(['network: must be one of "host", "private"']);
  });

  it('collects every problem at once', () => {
    expect(problemsOf({ suite: 7, limits: { homeSize: 'lots' } })).toHaveLength(2);
  });
});

describe('recipe rules', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-rules-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('refuses a system user name', () => {
    expect(problemsOf({ user: { name: 'sshd' } })[0]).toMatch(/^user\.name: "sshd" is a system user/);
  });

  it('refuses duplicate overlays and a missing overlay directory', () => {
    const problems = problemsOf({ overlays: ['sshd', 'sshd', './no-such-overlay', 'hygiene'] });
    expect(problems).toContain('overlays[1]: "sshd" is listed twice (first at overlays[0]); an overlay is applied once');
    expect(problems.some((p) => p.startsWith('overlays[2]: no overlay directory at'))).toBe(true);
  });

  it('requires hygiene to come last', () => {
    expect(problemsOf({ overlays: ['hygiene', 'sshd'] })[0]).toMatch(/^overlays\[0\]: "hygiene" must come last/);
  });

  it('refuses an overlay whose symlink escapes the image root', () => {
    const overlay = path.join(tmp, 'escaping');
    fs.mkdirSync(path.join(overlay, 'files/etc'), { recursive: true });
    fs.symlinkSync('../../../../etc/shadow', path.join(overlay, 'files/etc/evil'));
    fs.symlinkSync('../usr/share/zoneinfo/UTC', path.join(overlay, 'files/etc/localtime'));
    const problems = problemsOf({ overlays: ['./escaping'] }, path.join(tmp, 'recipe.ts'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^overlays\[0\]: files\/etc\/evil is a symlink to "\.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow", which escapes the image root/);
  });

  it('refuses binds onto paths the container manages', () => {
    expect(problemsOf({ binds: [{ source: '/srv/cache', target: '/home/builder/cache', type: 'directory' }] })[0]).toMatch(
      /^binds\[0\]\.target: \/home\/builder\/cache is managed by the container/,
    );
  });
});
