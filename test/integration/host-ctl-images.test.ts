// The host tool's image commands against a scratch root (EB_ROOT) with image trees made here:
// status and versions show each image's date and age from its image.env ("date unknown" without
// one).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { renderHostFiles } from '../../pipeline/host/render.ts';
import { describeWith } from '../helpers/env.ts';
import { ctl, newHostRoot, testRecipe, writeFakeImage, writeHostFiles } from './host-fixture.ts';

const NAME = 'ebtest';
const DAY = 86_400;
/** 10 days and an hour ago: "10 days old" whenever the test runs. */
const TEN_DAYS_AGO = Math.floor(Date.now() / 1000) - 10 * DAY - 3600;

describeWith({ root: true, tools: ['dpkg-query'] }, 'the host tool: image dates and versions', () => {
  const cleanup: string[] = [];
  let root: string;
  const images = () => path.join(root, 'usr/lib', NAME, 'images');

  /** An image that install.sh would accept, with image.env unless `date` is null. */
  function writeImage(version: string, date: number | null = TEN_DAYS_AGO): void {
    const dir = path.join(images(), version);
    writeFakeImage(dir);
    if (date === null) return;
    fs.mkdirSync(path.join(dir, 'usr/share/ephemeral-builder'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'usr/share/ephemeral-builder/image.env'), `IMAGE_NAME=${NAME}\nIMAGE_VERSION=${version}\nIMAGE_ARCHITECTURE=amd64\nIMAGE_DATE=${date}\n`);
  }

  const useImage = (version: string) => {
    const link = path.join(root, 'var/lib', NAME, 'current');
    fs.rmSync(link, { force: true });
    fs.symlinkSync(`../../../usr/lib/${NAME}/images/${version}`, link);
  };

  beforeAll(() => {
    root = newHostRoot();
    cleanup.push(root);
    writeHostFiles(root, renderHostFiles(testRecipe({ name: NAME })));
    writeImage('0.9.0', null);
    writeImage('1.0.0');
    writeImage('1.1.0', TEN_DAYS_AGO + 9 * DAY);
    writeImage('1.2.0');
    writeImage('1.3.0');
    fs.mkdirSync(path.join(root, 'var/lib', NAME), { recursive: true });
    useImage('1.0.0');
    fs.symlinkSync(`../../../usr/lib/${NAME}/images/0.9.0`, path.join(root, 'var/lib', NAME, 'previous'));
  });

  afterAll(() => {
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  });

  it('status shows the current image\'s date and age, or that an image has none', async () => {
    const date = new Date(TEN_DAYS_AGO * 1000).toISOString().slice(0, 16).replace('T', ' ');
    const res = await ctl(root, NAME, ['status']);
    expect(res.exitCode, res.all).toBe(0);
    expect(res.stdout).toMatch(/^current: {4}1\.0\.0$/m);
    expect(res.stdout).toContain(`\nimage date: ${date} UTC, 10 days old\n`);
    useImage('0.9.0');
    try {
      expect((await ctl(root, NAME, ['status'])).stdout).toContain('\nimage date: unknown (image 0.9.0 was built before images recorded their date)\n');
    } finally {
      useImage('1.0.0');
    }
  });

  it('versions lists every image with its date and age, oldest version first, current and previous marked', async () => {
    const res = await ctl(root, NAME, ['versions']);
    expect(res.exitCode, res.all).toBe(0);
    const day = (t: number) => new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ');
    expect(res.stdout.split('\n').map((l) => l.trimEnd())).toEqual([
      'VERSION          DATE                  AGE       STATE',
      '0.9.0            date unknown                    previous',
      `1.0.0            ${day(TEN_DAYS_AGO)} UTC  10 days   current`,
      `1.1.0            ${day(TEN_DAYS_AGO + 9 * DAY)} UTC  1 day     -`,
      `1.2.0            ${day(TEN_DAYS_AGO)} UTC  10 days   -`,
      `1.3.0            ${day(TEN_DAYS_AGO)} UTC  10 days   -`,
    ]);
    const help = await ctl(root, NAME, ['--help']);
    expect(help.stdout).toMatch(/^ {2}versions +installed image versions with their dates/m);
  });
});
