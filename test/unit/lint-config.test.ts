// `npm test` runs `biome check` (formatter and linter) over the repository before vitest: this
// shows that the configuration it runs with reports a misformatted file and a lint violation, so a
// clean run means the code keeps the house style.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.ts';
import { REPO } from '../helpers/paths.ts';

const BIOME = path.join(REPO, 'node_modules/.bin/biome');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function check(source: string) {
  const dir = tempDir('eb-biome');
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'sample.ts'), source);
  fs.copyFileSync(path.join(REPO, 'biome.jsonc'), path.join(dir, 'biome.jsonc'));
  return execa(BIOME, ['check', '--error-on-warnings', '--vcs-enabled=false', 'sample.ts'], { cwd: dir, reject: false, all: true });
}

describe('the lint and format check of npm test', () => {
  it('passes a file in the house style', async () => {
    const res = await check('export const greeting = (name: string): string => `hello ${name}`;\n');
    expect(res.all).toMatch(/Checked 1 file/);
    expect(res.exitCode).toBe(0);
  });

  it('fails on double quotes (the formatter) and on a forEach callback that returns (the linter)', async () => {
    expect((await check('export const greeting = "hello";\n')).exitCode).not.toBe(0);
    const res = await check('export function clear(xs: string[], out: Set<string>): void {\n  xs.forEach((x) => out.delete(x));\n}\n');
    expect(res.all).toMatch(/useIterableCallbackReturn/);
    expect(res.exitCode).not.toBe(0);
  });
});
