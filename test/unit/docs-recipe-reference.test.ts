// The recipe reference cannot drift: docs/recipe-reference.md must be exactly what the generator
// makes from the schema, every field a recipe gets by default must have a row whose default is the
// value the schema really produces, and a field without a description is refused.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeSchema, REFERENCE_FILE, renderRecipeReference, type ReferenceRow } from '../../pipeline/docs/recipe-reference.ts';
import { recipeSchema } from '../../pipeline/recipe/schema.ts';

const rows = new Map<string, ReferenceRow>(
  describeSchema()
    .flatMap((s) => s.rows)
    .map((r) => [r.path, r]),
);

/** Dot paths and values of what an empty recipe parses to: the defaults, as the validator applies them. */
function flatten(value: unknown, prefix = ''): Array<[string, unknown]> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix, value]];
  return Object.entries(value).flatMap(([k, v]) => {
    const at = prefix ? `${prefix}.${k}` : k;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? [[at, v] as [string, unknown], ...flatten(v, at)] : [[at, v] as [string, unknown]];
  });
}

describe('recipe reference', () => {
  it('docs/recipe-reference.md is the generated text (run `npx node pipeline/docs/recipe-reference.ts --write` after changing the schema)', () => {
    expect(fs.readFileSync(REFERENCE_FILE, 'utf8')).toBe(renderRecipeReference());
  });

  it('shows the defaults the schema really applies, for every field an empty recipe gets', () => {
    const parsed = flatten(recipeSchema.parse({}));
    expect(parsed.length).toBeGreaterThan(25);
    for (const [at, value] of parsed) {
      const row = rows.get(at);
      expect(row, `no row for ${at}`).toBeDefined();
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) expect(row!.default).toBe("each field's default");
      else expect(row!.default, at).toBe(`\`${JSON.stringify(value)}\``);
    }
  });

  it('lists the fields that have no default too, and the fields of array entries', () => {
    expect(rows.get('sourceDateEpoch')).toMatchObject({ type: 'integer ≥ 0', default: 'not set' });
    expect(rows.get('binds[].source')).toMatchObject({ type: 'string', default: 'required', rules: ['must be an absolute path', 'must not contain ".."'] });
    expect(rows.get('binds[].target')?.default).toBe('not set');
    expect(rows.get('binds')).toMatchObject({ type: 'object[]', section: 'binds[]' });
  });

  it('renders concrete rows a reader looks for', () => {
    const text = renderRecipeReference();
    expect(text).toContain('| `user.uid` | integer 1000–59999 | `9000` | Numeric uid in the image');
    expect(text).toContain('| `ssh.listenAddress` | string | `"127.0.0.1"` | Address the host\'s socket unit listens on.');
    expect(text).toMatch(/^\| `limits\.homeSize` \| string \| `"1G"` \| .*ENOSPC.* Must be a size such as 512M or 2G\. \|$/m);
    expect(text).toContain('| `architecture` | one of `"amd64"`, `"arm64"`');
    expect(text).toContain('## `binds[]`');
  });

  it('refuses a schema field without a description', () => {
    const schema = z.strictObject({ ok: z.string().default('x').describe('fine'), bare: z.number().default(1) });
    expect(() => renderRecipeReference(schema)).toThrow(/^bare: the schema field has no \.describe\(\) text/);
  });

  it('refuses a zod type it cannot render instead of guessing', () => {
    const schema = z.strictObject({ when: z.date().optional().describe('a date') });
    expect(() => renderRecipeReference(schema)).toThrow(/no rendering for zod type "date"/);
  });
});
