// container-init, both forms, in real systemd-nspawn containers of a built minimal image, started
// as the host's spawn starts them (read-only root, private users, tmpfs home). The compiled form
// (what amd64 images get) and the shell form (what images of another architecture get) must fill
// the home alike, as `cp -a` does: the same names, types, modes, owners, times, link targets and
// contents, on a template with nested directories, odd modes, set-id bits, links and a file larger
// than the copy buffer. Then the compiled form's failures: a template entry it cannot copy, and a
// home too small for the template.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CONTAINER_INIT } from '../../pipeline/image-contract.ts';
import { buildVerified, tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { REPO } from '../helpers/paths.ts';

const SHELL_FORM = path.join(REPO, 'overlays/container-init/files/usr/lib/ephemeral-builder/container-init');
const BUILDER = 9000; // recipes/minimal.ts
const TEMPLATE = 'home/builder.template';
// Every entry of the home, one line each: type, mode, owner, mtime (ns), size, link target, name.
const LISTING = String.raw`cd /home/builder && find . -printf '%y %m %U:%G %T@ %s %l %p\n' | sort`;

describeWith({ root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'cc', 'readelf'] }, 'container-init', () => {
  let root: string;
  const dirs: string[] = [];
  beforeAll(async () => {
    const built = await buildVerified();
    dirs.push(built.out);
    // A copy of the image whose template has more kinds of entries than /etc/skel gives.
    const work = tempDir('container-init');
    dirs.push(work);
    root = path.join(work, 'rootfs');
    await execa('cp', ['-a', built.rootfs, root]);
    fs.copyFileSync(SHELL_FORM, path.join(root, 'usr/lib/ephemeral-builder/container-init.sh'));
    const t = (p: string) => path.join(root, TEMPLATE, p);
    fs.mkdirSync(t('.config/tool/deep'), { recursive: true });
    fs.writeFileSync(t('.config/tool/deep/settings'), 'x = 1\n');
    fs.writeFileSync(t('big.bin'), Buffer.alloc(300_000, 'ab'));
    fs.writeFileSync(t('empty'), '');
    fs.writeFileSync(t('run-me'), '#!/bin/sh\n');
    fs.symlinkSync('.config/tool', t('tool-link'));
    fs.symlinkSync('/nonexistent/target', t('dangling'));
    fs.mkdirSync(t('shared'));
    for (const p of ['.config', '.config/tool', '.config/tool/deep', '.config/tool/deep/settings', 'big.bin', 'empty', 'run-me', 'tool-link', 'dangling', 'shared']) {
      fs.lchownSync(t(p), BUILDER, BUILDER);
    }
    fs.chmodSync(t('.config/tool'), 0o750);
    fs.chmodSync(t('.config/tool/deep/settings'), 0o600);
    fs.chmodSync(t('run-me'), 0o4755); // set-uid survives only if the owner is set before the mode
    fs.chmodSync(t('shared'), 0o2770);
    fs.chownSync(t('empty'), BUILDER, 0); // an owner that is not the builder's group
    fs.utimesSync(t('big.bin'), new Date('2001-02-03T04:05:06.789Z'), new Date('2001-02-03T04:05:06.789Z'));
    fs.lutimesSync(t('tool-link'), new Date('2002-01-01T00:00:00Z'), new Date('2002-01-01T00:00:00Z'));
    fs.utimesSync(t('.config/tool/deep'), new Date('2003-01-01T00:00:00Z'), new Date('2003-01-01T00:00:00Z'));
  }, 20 * 60_000);
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  /** Runs `init --exec sh -c SCRIPT` in a container as spawn starts one (without the ssh keys). */
  function inContainer(init: string, script: string, homeSize = '64M') {
    return execa('systemd-nspawn', ['--quiet', '--console=pipe', '--register=no', '--keep-unit', `--directory=${root}`, '--read-only',
      '--private-users=pick', '--private-users-ownership=map', '--as-pid2', `--tmpfs=/home/builder:mode=0700,size=${homeSize}`,
      '--tmpfs=/run/sshd:mode=0755,size=64k', init, '--exec', 'sh', '-c', script], { reject: false, stdin: 'ignore', all: true });
  }

  it('the image has the compiled form: static-pie, with Debian\'s hardening, stripped', async () => {
    const file = path.join(root, CONTAINER_INIT);
    expect(fs.readFileSync(file).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(fs.statSync(file).mode & 0o7777).toBe(0o755);
    const dynamic = (await execa('readelf', ['--wide', '--dynamic', file])).stdout;
    expect(dynamic).not.toContain('(NEEDED)'); // no shared library: it runs on any image's libc
    expect(dynamic).toMatch(/FLAGS_1.*NOW.*PIE/);
    const segments = (await execa('readelf', ['--wide', '--segments', file])).stdout;
    expect(segments).toContain('GNU_RELRO');
    expect(segments).not.toMatch(/GNU_STACK.*RWE/);
    expect((await execa('readelf', ['--wide', '--symbols', file])).stdout).not.toContain('copy_tree'); // stripped
  });

  it('both forms fill the home as cp -a does, and the compiled one as the shell one', async () => {
    const compiled = await inContainer(CONTAINER_INIT, LISTING);
    const shell = await inContainer('/usr/lib/ephemeral-builder/container-init.sh', LISTING);
    expect(compiled.exitCode, compiled.all).toBe(0);
    expect(shell.exitCode, shell.all).toBe(0);
    expect(compiled.stdout).toBe(shell.stdout);
    const lines = compiled.stdout.split('\n');
    // The home itself takes the template's mode and owner (the container's builder: uid 9000).
    expect(lines).toContainEqual(expect.stringMatching(/^d 700 9000:9000 \S+ \d+ {2}\.$/));
    expect(lines).toContainEqual(expect.stringMatching(/^f 4755 9000:9000 .* \.\/run-me$/));
    expect(lines).toContainEqual(expect.stringMatching(/^d 2770 9000:9000 .* \.\/shared$/));
    expect(lines).toContainEqual(expect.stringMatching(/^f 644 9000:0 \S+ 0 {2}\.\/empty$/));
    expect(lines).toContainEqual(expect.stringMatching(/^f 644 9000:9000 981173106\.789\d* 300000 {2}\.\/big\.bin$/));
    expect(lines).toContainEqual(expect.stringMatching(/^l 777 9000:9000 1009843200\.0+ \d+ \.config\/tool \.\/tool-link$/));
    expect(lines).toContainEqual(expect.stringMatching(/^l 777 9000:9000 \S+ \d+ \/nonexistent\/target \.\/dangling$/));
    expect(lines).toContainEqual(expect.stringMatching(/^d 750 9000:9000 .* \.\/\.config\/tool$/));
    expect(lines).toContainEqual(expect.stringMatching(/^d 755 9000:9000 1041379200\.0+ .* \.\/\.config\/tool\/deep$/));
    expect(lines).toContainEqual(expect.stringMatching(/^f 600 9000:9000 \S+ 6 {2}\.\/\.config\/tool\/deep\/settings$/));
    // The same bytes as the template.
    const sums = 'cd /home/builder && sha256sum big.bin .config/tool/deep/settings .bashrc';
    const copied = await inContainer(CONTAINER_INIT, sums);
    const original = await execa('sha256sum', ['big.bin', '.config/tool/deep/settings', '.bashrc'], { cwd: path.join(root, TEMPLATE) });
    expect(copied.stdout).toBe(original.stdout);
  });

  it('the compiled form refuses a template entry it cannot copy, naming it', async () => {
    const fifo = path.join(root, TEMPLATE, 'a-fifo');
    await execa('mkfifo', [fifo]);
    try {
      const r = await inContainer(CONTAINER_INIT, 'echo reached');
      expect(r.exitCode).not.toBe(0);
      expect(r.all).toContain('container-init: /home/builder.template/a-fifo is not a file, a directory or a symbolic link');
      expect(r.all).not.toContain('reached');
    } finally {
      fs.rmSync(fifo);
    }
  });

  it('the compiled form fails when the home is too small for the template, saying so', async () => {
    const r = await inContainer(CONTAINER_INIT, 'echo reached', '64k');
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/container-init: cannot write \/home\/builder\.template\/big\.bin: No space left on device/);
    expect(r.all).not.toContain('reached');
  });
});
