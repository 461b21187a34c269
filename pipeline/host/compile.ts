// Compiles host/src/syscall-filter-exec.c, rendered for one recipe, into the host package's fast
// path for loading the stored system call filter (see the C file's header). Built as a Debian
// package's binary would be (util/compile-c.ts: hardening flags, stripped), and its libc
// dependency comes from dpkg-shlibdeps: lintian holds the host package to that. Only for amd64
// on an x86_64 build machine: the stored filter is x86_64 only (refresh-filter refuses other
// machines), and elsewhere spawn goes on without the binary.
import fs from 'node:fs';
import path from 'node:path';
import { requireTools } from '../host-tools.ts';
import { compileC, compilesFor, COMPILE_ENV, requireCompiler } from '../util/compile-c.ts';
import type { RunTool } from '../util/exec.ts';
import { placeholders, renderHostTemplate, type HostFile, type HostPackageFiles, type HostRecipe } from './render.ts';

export const FILTER_EXEC_SOURCE = 'src/syscall-filter-exec.c';

export interface CompiledHelper {
  file: HostFile;
  /** What the binary needs, as dpkg-shlibdeps says: "libc6 (>= 2.34)". */
  depends: string[];
}

/** Whether this recipe's host package gets the compiled helper. */
export function buildsFilterExec(architecture: string): boolean {
  return architecture === 'amd64' && compilesFor(architecture);
}

export function requireFilterExecTools(): void {
  requireCompiler();
  requireTools(['dpkg-shlibdeps']);
}

/** Renders and compiles the helper in workDir; the binary's bytes and its package dependencies. */
export async function compileFilterExec(recipe: HostRecipe, workDir: string, run: RunTool): Promise<CompiledHelper> {
  const dir = fs.mkdtempSync(path.join(workDir, 'filter-exec-'));
  try {
    fs.writeFileSync(path.join(dir, 'syscall-filter-exec.c'), renderHostTemplate(FILTER_EXEC_SOURCE, placeholders(recipe)));
    const content = await compileC(dir, 'syscall-filter-exec.c', 'syscall-filter-exec', run);
    // dpkg-shlibdeps wants to run in a source tree: an empty debian/control is enough for -O.
    fs.mkdirSync(path.join(dir, 'debian'));
    fs.writeFileSync(path.join(dir, 'debian/control'), '');
    const shlibs = await run('dpkg-shlibdeps', ['-O', '-e', 'syscall-filter-exec'], { env: COMPILE_ENV, cwd: dir });
    const depends = (/^shlibs:Depends=(.*)$/m.exec(shlibs)?.[1] ?? '').split(',').map((d) => d.trim()).filter(Boolean);
    if (depends.length === 0) throw new Error(`dpkg-shlibdeps found no dependency for syscall-filter-exec: ${shlibs}`);
    return { file: { path: `/usr/lib/${recipe.name}/syscall-filter-exec`, mode: 0o755, content }, depends };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The host package's files with the compiled helper added, where the architecture has one. */
export async function withFilterExec(rendered: HostPackageFiles, recipe: HostRecipe & { architecture: string }, workDir: string, run: RunTool): Promise<HostPackageFiles> {
  if (!buildsFilterExec(recipe.architecture)) return rendered;
  const helper = await compileFilterExec(recipe, workDir, run);
  return { ...rendered, files: [...rendered.files, helper.file], depends: [...(rendered.depends ?? []), ...helper.depends] };
}
