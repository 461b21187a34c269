// The image package's lintian overrides: every tag is one lintian knows (an unknown tag in an
// override file is itself a lintian error, malformed-override), has a reason, appears once, and
// is scoped to the image directory.
import { execaSync } from 'execa';
import { expect, it } from 'vitest';
import { IMAGE_LINTIAN_OVERRIDES, renderImageLintianOverrides } from '../../pipeline/pack/lintian-image-overrides.ts';
import { describeWith } from '../helpers/env.ts';

it('gives each tag once, with a reason, scoped to the image directory', () => {
  const tags = IMAGE_LINTIAN_OVERRIDES.map((o) => o.tag);
  expect(new Set(tags).size).toBe(tags.length);
  for (const o of IMAGE_LINTIAN_OVERRIDES) expect(o.reason.length, o.tag).toBeGreaterThan(20);
  const text = renderImageLintianOverrides('ebtest', '1.4.0-rc.1');
  const lines = text.trimEnd().split('\n');
  expect(lines.length).toBe(2 * tags.length);
  lines.forEach((line, i) => {
    if (i % 2 === 0) expect(line).toMatch(/^# \S/);
    else expect(line).toMatch(new RegExp(`^${tags[(i - 1) / 2]} (\\*\\[|.* )usr/lib/ebtest/images/1\\.4\\.0-rc\\.1/\\*\\]?$`));
  });
});

describeWith({ tools: ['lintian-explain-tags'] }, 'against lintian', () => {
  it('names only tags this lintian knows', () => {
    const tags = IMAGE_LINTIAN_OVERRIDES.map((o) => o.tag);
    const out = execaSync('lintian-explain-tags', tags, { reject: false }).stdout;
    const known = new Set([...out.matchAll(/^[EWIPXCNO]: (\S+)$/gm)].map((m) => m[1]));
    expect(tags.filter((t) => !known.has(t))).toEqual([]);
  });
});
