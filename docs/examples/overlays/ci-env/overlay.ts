// Example overlay ci-env (docs/overlays.md): git defaults for every job (files/etc/gitconfig) and a
// profile script that exports MAKEFLAGS matching the CPU limit and a cache directory inside the
// tmpfs home. Reads: limits.cpu.
import { defineOverlay } from '../../../../pipeline/overlay/define.ts';

/**
 * Sourced by every `bash -l`, the shell GitLab Runner runs each stage in, with the script on
 * stdin and no terminal: so only `export` lines, no output, nothing that reads stdin.
 */
export function profileScript(jobs: number): string {
  return `# Installed by the ci-env overlay (ephemeral-builder docs/examples).
export MAKEFLAGS="-j${jobs}"
export XDG_CACHE_HOME="$HOME/.cache"
`;
}

export default defineOverlay({
  description: 'exports MAKEFLAGS for the CPU limit and a cache directory in the tmpfs home',
  apply({ image, recipe, log }) {
    const jobs = Math.max(1, Math.floor(Number.parseInt(recipe.limits.cpu, 10) / 100));
    image.writeFile('/etc/profile.d/ci-env.sh', profileScript(jobs), { mode: 0o644 });
    log(`MAKEFLAGS=-j${jobs}`);
  },
});
