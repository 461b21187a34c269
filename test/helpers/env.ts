// Gates for tests that need root, network or systemd-nspawn. On a laptop they skip with the reason;
// with CI set they never skip: a missing prerequisite fails the run instead.
import { execaSync } from 'execa';
import { it, describe } from 'vitest';

export const IN_CI = Boolean(process.env.CI);

export function missingPrerequisite(needs: { root?: boolean; tools?: string[]; network?: boolean }): string | undefined {
  if (needs.root && process.getuid?.() !== 0) return 'needs root';
  for (const tool of needs.tools ?? []) {
    if (execaSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { reject: false }).exitCode !== 0) return `needs ${tool} on PATH`;
  }
  return undefined;
}

/**
 * describe() that skips off-CI when a prerequisite is missing, and throws under CI so the run
 * fails with the reason.
 */
export function describeWith(needs: Parameters<typeof missingPrerequisite>[0], name: string, fn: () => void): void {
  const missing = missingPrerequisite(needs);
  if (!missing) {
    describe(name, fn);
    return;
  }
  if (IN_CI) {
    describe(name, () => {
      it('has its prerequisites', () => {
        throw new Error(`${name}: ${missing}, and CI is set, so this must not skip. Install it via .ci/run's setup.`);
      });
    });
    return;
  }
  describe.skip(`${name} (skipped: ${missing})`, fn);
}
