// Test layout: unit (fast, pure), integration (real tools: mmdebstrap, dpkg-deb, lintian, nspawn),
// e2e (a booted Debian host). Integration and e2e share expensive builds through the cache in
// .cache/test, so files run one at a time; the machine has 2 cores and the tests are I/O bound.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 30 * 60_000,
    fileParallelism: false,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
