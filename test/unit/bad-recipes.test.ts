// The corpus of bad recipes in test/fixtures/bad-recipes: every file names, in its "// expect:"
// line, the exact message the user must get. Offline cases go through loading and the rules;
// cases marked "// needs: mirror" are resolved against the real Debian mirror.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecipeError } from '../../pipeline/errors.ts';
import { loadRecipe } from '../../pipeline/recipe/load.ts';
import { resolveRecipe } from '../../pipeline/recipe/resolve.ts';
import { describeWith } from '../helpers/env.ts';
import { REPO, TEST_CACHE } from '../helpers/paths.ts';

const DIR = path.join(REPO, 'test/fixtures/bad-recipes');
const cases = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.ts'))
  .sort()
  .map((file) => {
    const text = fs.readFileSync(path.join(DIR, file), 'utf8');
    const expected = /^\/\/ expect: (.*)$/m.exec(text)?.[1]?.replace('@DIR@', DIR);
    if (!expected) throw new Error(`${file} has no "// expect:" line`);
    return { file, expected, mirror: /^\/\/ needs: mirror$/m.test(text) };
  });

async function problemsOf(file: string, mirror: boolean): Promise<string[]> {
  try {
    const loaded = await loadRecipe(path.join(DIR, file));
    if (mirror) await resolveRecipe(loaded, fs.existsSync(TEST_CACHE) ? TEST_CACHE : os.tmpdir());
  } catch (err) {
    if (!(err instanceof RecipeError)) throw err;
    return err.problems;
  }
  return [];
}

it('has at least 30 bad recipes', () => {
  expect(cases.length).toBeGreaterThanOrEqual(30);
});

describe('bad recipes (offline)', () => {
  for (const c of cases.filter((x) => !x.mirror)) {
    it(c.file, async () => {
      expect(await problemsOf(c.file, false)).toContain(c.expected);
    });
  }
});

describeWith({ tools: ['xz'] }, 'bad recipes (checked against the mirror)', () => {
  for (const c of cases.filter((x) => x.mirror)) {
    it(c.file, async () => {
      expect(await problemsOf(c.file, true)).toContain(c.expected);
    });
  }
});
