// docs/customizing-images.md shows recipes/company.ts in full, as the example to copy: the page and
// the file must not drift apart (the recipe itself is built by build-company.test.ts).
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { REPO } from '../helpers/paths.ts';

it('docs/customizing-images.md shows recipes/company.ts as it is', () => {
  const page = fs.readFileSync(path.join(REPO, 'docs/customizing-images.md'), 'utf8');
  const recipe = fs.readFileSync(path.join(REPO, 'recipes/company.ts'), 'utf8');
  const blocks = [...page.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  expect(blocks).toContain(recipe);
});
