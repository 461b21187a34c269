// The rendered host files against the real checkers: shellcheck (POSIX sh) on every script,
// systemd-analyze verify on the units, nft's own check of the private network's rules, man's
// warnings on the manual page, and lintian on a host package built from them with dpkg-deb (no
// errors, no warnings).
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { renderHostFiles } from '../../pipeline/host-package/render.ts';
import { describeWith } from '../helpers/env.ts';
import { tempDir, testRecipe, writeHostFiles } from './host-fixture.ts';

const recipes = {
  default: testRecipe({ name: 'ephemeral-builder', version: '1.4.0' }),
  custom: testRecipe({
    name: 'ci-box',
    version: '2.0.0-rc.1',
    ssh: { listenAddress: '::1', port: 2222 },
    limits: { maxConnections: 9, memory: '3G', cpu: '50%', runtime: '90min' },
    binds: [{ source: '/usr/bin/gitlab-runner' }, { source: '/srv/cache', target: '/cache', optional: false }],
    network: 'private',
  }),
};
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function scriptsOf(r: ReturnType<typeof renderHostFiles>, name: string): Record<string, string> {
  const out: Record<string, string> = {
    spawn: String(r.files.find((f) => f.path === `/usr/lib/${name}/spawn`)!.content),
    'private-network': String(r.files.find((f) => f.path === `/usr/lib/${name}/private-network`)!.content),
    ctl: String(r.files.find((f) => f.path === `/usr/sbin/${name}ctl`)!.content),
    'install.sh': r.installSh,
  };
  for (const [k, v] of Object.entries(r.maintainerScripts)) out[k] = v!;
  for (const [k, v] of Object.entries(r.imageMaintainerScripts)) out[`image-${k}`] = v!;
  return out;
}

describeWith({ tools: ['shellcheck'] }, 'shellcheck on the rendered scripts', () => {
  for (const [label, recipe] of Object.entries(recipes)) {
    it(`finds nothing in any script (${label} recipe)`, async () => {
      const dir = tempDir('eb-shellcheck');
      dirs.push(dir);
      const scripts = scriptsOf(renderHostFiles(recipe), recipe.name);
      for (const [name, text] of Object.entries(scripts)) fs.writeFileSync(path.join(dir, name), text);
      const names = Object.keys(scripts);
      expect(names.length).toBe(11);
      const res = await execa('shellcheck', ['--shell=sh', '--severity=style', ...names], { cwd: dir, reject: false, all: true });
      expect(res.all).toBe('');
      expect(res.exitCode).toBe(0);
    });
  }

  it('would report a bashism, so a clean run means something', async () => {
    const dir = tempDir('eb-shellcheck');
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'bad'), '#!/bin/sh\nif [[ -n "$1" ]]; then echo ok; fi\n');
    const res = await execa('shellcheck', ['--shell=sh', 'bad'], { cwd: dir, reject: false });
    expect(res.exitCode).not.toBe(0);
  });
});

describeWith({ tools: ['perl'] }, 'perl on the rendered syscall-filter helper', () => {
  it('compiles with warnings on, for every recipe, and would report an error', async () => {
    for (const recipe of Object.values(recipes)) {
      const text = String(renderHostFiles(recipe).files.find((f) => f.path === `/usr/lib/${recipe.name}/syscall-filter`)!.content);
      expect(text).not.toContain('@NAME@');
      const res = await execa('perl', ['-wc'], { input: text, reject: false, all: true });
      expect(res.all).toBe('- syntax OK');
      const broken = await execa('perl', ['-wc'], { input: text.replace('sub describe {', 'sub describe {{'), reject: false });
      expect(broken.exitCode).not.toBe(0);
      // strict is on without strict.pm: an undeclared variable does not compile.
      const sloppy = await execa('perl', ['-c'], { input: text.replace('my ($file) = @_;', '$file = $_[0];'), reject: false });
      expect(sloppy.stderr).toMatch(/Global symbol "\$file" requires explicit package name/);
    }
  });
});

describeWith({ tools: ['systemd-analyze'] }, 'systemd-analyze verify on the rendered units', () => {
  // --root: the units and the spawn helper they exec live in a scratch tree, with the host's
  // targets and slices copied in for the default dependencies.
  async function verify(root: string, name: string) {
    const unitDir = path.join(root, 'usr/lib/systemd/system');
    for (const f of fs.readdirSync('/usr/lib/systemd/system')) {
      if (/\.(target|slice)$/.test(f) && !fs.existsSync(path.join(unitDir, f))) fs.copyFileSync(path.join('/usr/lib/systemd/system', f), path.join(unitDir, f));
    }
    return execa('systemd-analyze', ['verify', `--root=${root}`, '--man=no', '--generators=no', `${name}.socket`, `${name}@.service`], {
      reject: false,
      all: true,
    });
  }

  /**
   * What systemd-analyze may say: nothing, except on systemd before 255 (Debian 12's 252), which
   * has no poll limit and says it ignores the socket's two PollLimit lines, exactly those.
   */
  async function expectedWords(socketFile: string): Promise<string> {
    const version = Number(/systemd (\d+)/.exec((await execa('systemd-analyze', ['--version'])).stdout)?.[1]);
    if (version >= 255) return '';
    return fs
      .readFileSync(socketFile, 'utf8')
      .split('\n')
      .flatMap((line, i) => {
        const key = /^(PollLimit\w+)=/.exec(line)?.[1];
        return key ? [`${socketFile}:${i + 1}: Unknown key '${key}' in section [Socket], ignoring.`] : [];
      })
      .join('\n');
  }

  for (const [label, recipe] of Object.entries(recipes)) {
    it(`accepts the socket and the service without a word (${label} recipe)`, async () => {
      const root = tempDir('eb-units');
      dirs.push(root);
      writeHostFiles(root, renderHostFiles(recipe));
      const res = await verify(root, recipe.name);
      const expected = await expectedWords(path.join(root, `usr/lib/systemd/system/${recipe.name}.socket`));
      expect(res.all).toBe(expected);
      expect(res.exitCode).toBe(0);
    });
  }

  it('notices a missing spawn helper and an unknown setting, so a clean run means something', async () => {
    const root = tempDir('eb-units');
    dirs.push(root);
    const r = renderHostFiles(recipes.default);
    writeHostFiles(root, r);
    fs.chmodSync(path.join(root, 'usr/lib/ephemeral-builder/spawn'), 0o644);
    const service = path.join(root, 'usr/lib/systemd/system/ephemeral-builder@.service');
    fs.appendFileSync(service, 'Delegat=yes\n');
    const res = await verify(root, 'ephemeral-builder');
    expect(res.all).toContain('not executable');
    expect(res.all).toContain("Unknown key 'Delegat'");
  });
});

describeWith({ root: true, tools: ['nft'] }, "nft on the private network's rules", () => {
  it('accepts them as they are (nft -c: the kernel checks the transaction and applies nothing), and would refuse a mistake', async () => {
    for (const recipe of Object.values(recipes)) {
      const rules = String(renderHostFiles(recipe).files.find((f) => f.path === `/usr/lib/${recipe.name}/private-network.nft`)!.content);
      const res = await execa('nft', ['-c', '-f', '-'], { input: rules, reject: false, all: true });
      expect({ code: res.exitCode, out: res.all }).toEqual({ code: 0, out: '' });
      const broken = await execa('nft', ['-c', '-f', '-'], { input: rules.replace('masquerade', 'masquerad'), reject: false });
      expect(broken.exitCode).not.toBe(0);
    }
  });
});

describeWith({ tools: ['man'] }, 'the manual page', () => {
  it('formats without warnings and documents every command of the host tool', async () => {
    const r = renderHostFiles(recipes.default);
    const page = r.files.find((f) => f.path === '/usr/share/man/man8/ephemeral-builderctl.8.gz')!;
    const roff = gunzipSync(page.content as Buffer).toString('utf8');
    const res = await execa('man', ['-l', '--warnings', '-E', 'UTF-8', '-'], { input: roff, reject: false, all: true, env: { MANWIDTH: '80' } });
    expect(res.exitCode).toBe(0);
    expect(res.stderr).toBe('');
    for (const cmd of ['status', 'list', 'versions', 'outdated', 'use', 'rollback', 'gc', 'runner-config', 'known-hosts', 'shell', 'doctor']) {
      expect(res.stdout).toMatch(new RegExp(`^ {7}${cmd}\\b`, 'm'));
    }
  });
});

describeWith({ root: true, tools: ['dpkg-deb', 'lintian'] }, 'lintian on a host package made of the rendered files', () => {
  it('reports no error and no warning', async () => {
    const recipe = recipes.default;
    const r = renderHostFiles(recipe);
    const dir = tempDir('eb-lintian');
    dirs.push(dir);
    const pkg = path.join(dir, 'pkg');
    writeHostFiles(pkg, r);
    const debian = path.join(pkg, 'DEBIAN');
    fs.mkdirSync(debian);
    for (const [name, text] of Object.entries(r.maintainerScripts)) fs.writeFileSync(path.join(debian, name), text!, { mode: 0o755 });
    fs.writeFileSync(
      path.join(debian, 'conffiles'),
      r.files
        .filter((f) => f.conffile)
        .map((f) => `${f.path}\n`)
        .join(''),
    );
    fs.writeFileSync(path.join(debian, 'triggers'), r.triggers);
    // What the pack stage adds around the host files; here only so that lintian judges ours.
    const overrides = path.join(pkg, 'usr/share/lintian/overrides');
    fs.mkdirSync(overrides, { recursive: true });
    fs.writeFileSync(path.join(overrides, recipe.name), r.lintianOverrides.host!);
    const doc = path.join(pkg, 'usr/share/doc', recipe.name);
    fs.mkdirSync(doc, { recursive: true });
    fs.writeFileSync(
      path.join(doc, 'copyright'),
      `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ${recipe.name}

Files: *
Copyright: 2025 Example Maintainers <maintainers@example.org>
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files.
`,
    );
    await execa('sh', [
      '-c',
      'printf "%s (1.4.0) unstable; urgency=medium\\n\\n  * Release.\\n\\n -- Example Maintainers <maintainers@example.org>  Wed, 01 Jan 2025 00:00:00 +0000\\n" "$1" | gzip -9n > "$2"',
      'sh',
      recipe.name,
      path.join(doc, 'changelog.gz'),
    ]);
    fs.writeFileSync(
      path.join(debian, 'control'),
      `Package: ${recipe.name}
Version: 1.4.0
Architecture: amd64
Maintainer: Example Maintainers <maintainers@example.org>
Installed-Size: 100
Depends: ${recipe.name}-image-1.4.0 (= 1.4.0), systemd-container, openssh-client
Section: admin
Priority: optional
Description: Throw-away GitLab Runner SSH build containers
 The host part: the socket and service units, the spawn helper and the
 host tool.
`,
    );
    await execa('sh', ['-c', 'cd "$1" && find . -type f ! -path "./DEBIAN/*" -printf "%P\\0" | sort -z | xargs -0 md5sum > DEBIAN/md5sums', 'sh', pkg]);
    const deb = path.join(dir, `${recipe.name}_1.4.0_amd64.deb`);
    await execa('dpkg-deb', ['--root-owner-group', '-b', pkg, deb]);
    const res = await execa('lintian', ['--tag-display-limit', '0', deb], { reject: false, all: true });
    const findings = res.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
    expect(findings).toEqual([]);
  });
});
