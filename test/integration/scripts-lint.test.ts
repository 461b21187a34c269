// shellcheck on every shell script of the repository that runs as it is written: the CI scripts,
// setup.sh, .ci/run, the init templates, and container-init as the overlay writes it into images.
// host/ holds templates with placeholders: host-lint.test.ts checks them rendered, for several recipes.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { containerInitFiles } from '../../overlays/container-init/overlay.ts';
import { CONTAINER_INIT } from '../../pipeline/image-contract.ts';
import { tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { REPO } from '../helpers/paths.ts';

const RENDERED_ELSEWHERE = [/^host\//, /^test\/golden\//, /^overlays\/container-init\/container-init\.sh$/];

/** The repository's shell scripts: *.sh files and files whose first line runs sh or bash. */
async function shellScripts(): Promise<string[]> {
  const files = (await execa('git', ['ls-files'], { cwd: REPO })).stdout.split('\n');
  return files.filter((f) => {
    if (RENDERED_ELSEWHERE.some((re) => re.test(f)) || !fs.lstatSync(path.join(REPO, f)).isFile()) return false;
    if (f.endsWith('.sh')) return true;
    const head = fs.readFileSync(path.join(REPO, f)).subarray(0, 64).toString('latin1');
    return /^#!\S*\/(env )?(sh|bash)\b/.test(head);
  });
}

describeWith({ tools: ['shellcheck', 'git'] }, "shellcheck on the repository's own scripts", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('finds nothing in the scripts as written', async () => {
    const scripts = await shellScripts();
    expect(scripts).toEqual(
      expect.arrayContaining(['.ci/run', 'setup.sh', 'scripts/ci/build-release.sh', 'templates/init/overlays/team/files/etc/profile.d/team.sh']),
    );
    const res = await execa('shellcheck', ['--severity=style', ...scripts], { cwd: REPO, reject: false, all: true });
    expect(res.all).toBe('');
    expect(res.exitCode).toBe(0);
  });

  it('finds nothing in container-init as the overlay writes it', async () => {
    const dir = tempDir('eb-shellcheck');
    dirs.push(dir);
    const init = containerInitFiles({ name: 'builder', uid: 1000, gid: 1000 }).find((f) => f.path === CONTAINER_INIT)!;
    fs.writeFileSync(path.join(dir, 'container-init'), init.content);
    const res = await execa('shellcheck', ['--severity=style', 'container-init'], { cwd: dir, reject: false, all: true });
    expect(res.all).toBe('');
  });

  it('would report a problem, so a clean run means something', async () => {
    const dir = tempDir('eb-shellcheck');
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'bad.sh'), '#!/bin/sh\nrm -rf $1/\n');
    const res = await execa('shellcheck', ['--severity=style', 'bad.sh'], { cwd: dir, reject: false });
    expect(res.exitCode).not.toBe(0);
  });
});
