// The package names index (pipeline/mirror.ts packageNames) against the real Debian mirror: read
// from Packages.xz as a stream, cached as text, read back from the cache, fetched again when the
// cache is incomplete, and within a bounded memory (the whole index once took node to 570 MB).
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { fetchInRelease, packageNames, type MirrorState } from '../../pipeline/mirror.ts';
import { tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { REPO } from '../helpers/paths.ts';

const MIRROR = 'http://deb.debian.org/debian';
const work = tempDir('names');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describeWith({ tools: ['xz'], network: true }, 'package names from the mirror', () => {
  let state: MirrorState;
  const cacheDir = path.join(work, 'cache');
  const cacheFile = () => {
    const files = fs.readdirSync(path.join(cacheDir, 'indexes'));
    expect(files).toHaveLength(1);
    return path.join(cacheDir, 'indexes', files[0] as string);
  };

  it('reads every package and virtual package of main, and caches them as text', async () => {
    const found = await fetchInRelease(MIRROR, 'trixie');
    if (!found.found) throw new Error(`trixie: HTTP ${found.status}`);
    state = found.state;
    const names = await packageNames(MIRROR, state, ['main'], 'amd64', cacheDir);
    expect(names.size).toBeGreaterThan(50_000);
    expect(names.get('openssh-server')).toBe('main');
    // Provided only, by openssh-server and others: a virtual package counts as a name.
    expect(names.get('ssh-server')).toBe('main');
    const lines = fs.readFileSync(cacheFile(), 'latin1').split('\n');
    expect(lines[0]).toBe(`ephemeral-builder package names ${names.size}`);
    expect(lines).toContain('openssh-server main');
  });

  it('reads the cache back instead of the mirror', async () => {
    // A cache made up here: only reading the file gives these two names.
    fs.writeFileSync(cacheFile(), 'ephemeral-builder package names 2\nonly-in-cache main\nother contrib\n');
    const names = await packageNames(MIRROR, state, ['main'], 'amd64', cacheDir);
    expect([...names]).toEqual([
      ['only-in-cache', 'main'],
      ['other', 'contrib'],
    ]);
  });

  it('fetches again when the cache is incomplete', async () => {
    fs.writeFileSync(cacheFile(), 'ephemeral-builder package names 3\nonly-in-cache main\n');
    const names = await packageNames(MIRROR, state, ['main'], 'amd64', cacheDir);
    expect(names.has('only-in-cache')).toBe(false);
    expect(names.get('openssh-server')).toBe('main');
  });

  it('keeps node under 250 MB while reading the whole index (it took 570 MB as one string)', async () => {
    const script = path.join(work, 'names-rss.ts');
    fs.writeFileSync(
      script,
      `
      import { packageNames } from '${REPO}/pipeline/mirror.ts';
      const names = await packageNames(${JSON.stringify(MIRROR)}, ${JSON.stringify(state)}, ['main'], 'amd64', ${JSON.stringify(path.join(work, 'cold'))});
      console.log(JSON.stringify({ names: names.size, maxRssKiB: process.resourceUsage().maxRSS }));
    `,
    );
    // The CLI's own node flags do not apply here: this is the default heap, the worst case.
    const r = await execa('npx', ['node', script], { cwd: REPO });
    const { names, maxRssKiB } = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { names: number; maxRssKiB: number };
    expect(names).toBeGreaterThan(50_000);
    console.log(`peak RSS reading the index: ${Math.round(maxRssKiB / 1024)} MB`);
    expect(maxRssKiB / 1024).toBeLessThan(250);
  });
});
