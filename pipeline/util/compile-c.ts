// Compiles one C file the way a Debian package's binary is built: Debian's hardening flags
// (dpkg-buildflags, hardening=+all), -Wall -Wextra -Werror, stripped. Shared by the host package's
// syscall-filter-exec and the image's container-init, both small programs on every connection's
// path. Only for the build machine's own architecture: there is no cross compiler here.
import fs from 'node:fs';
import path from 'node:path';
import { buildMachineArchitecture, requireTools } from '../host-tools.ts';
import type { RunTool } from './exec.ts';

export const COMPILE_ENV = { DEB_BUILD_MAINT_OPTIONS: 'hardening=+all', LC_ALL: 'C' };

/** Whether a binary compiled here runs on an image or host of this Debian architecture. */
export function compilesFor(architecture: string): boolean {
  return buildMachineArchitecture() === architecture;
}

export function requireCompiler(): void {
  requireTools(['cc', 'dpkg-buildflags']);
}

/**
 * Compiles dir/source into dir/output with extra linker flags (e.g. -static-pie). Relative names
 * and cwd = dir: -ffile-prefix-map maps dir away, so no build path is in the binary and two builds
 * give the same bytes.
 */
export async function compileC(dir: string, source: string, output: string, run: RunTool, extraLdflags: string[] = []): Promise<Buffer> {
  const opts = { env: COMPILE_ENV, cwd: dir };
  const flags = async (kind: string) => (await run('dpkg-buildflags', ['--get', kind], opts)).trim().split(/\s+/).filter(Boolean);
  const [cppflags, cflags, ldflags] = [await flags('CPPFLAGS'), await flags('CFLAGS'), await flags('LDFLAGS')];
  await run('cc', [...cppflags, ...cflags, '-Wall', '-Wextra', '-Werror', '-o', output, source, ...ldflags, ...extraLdflags, '-s'], opts);
  return fs.readFileSync(path.join(dir, output));
}
