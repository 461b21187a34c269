// The image contract (pipeline/image-contract.ts) is the one place its paths are written: no other
// file of the product (pipeline, overlays, host scripts and units, bench, CI scripts) spells one
// out, so a path changed there changes everywhere. Host files get them as placeholders, the image's
// container-init through its builder.env.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as contract from '../../pipeline/image-contract.ts';
import { placeholders, renderHostFiles } from '../../pipeline/host-package/render.ts';
import { recipeSchema } from '../../pipeline/recipe/schema.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const CONTRACT_FILE = path.join(REPO, 'pipeline/image-contract.ts');
const SCANNED = ['pipeline', 'overlays', 'host', 'bench', 'scripts', 'recipes'];
/** Prose (READMEs, the man page) explains the paths to people; it is not what runs. */
const PROSE = /\.(md|[0-9])$/;

function productFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .filter((f) => f !== CONTRACT_FILE && !PROSE.test(f) && !f.includes(`${path.sep}results${path.sep}`));
}

/** Each contract path, and the literal form a stray copy of it would take. */
const LITERALS: Array<[string, string, RegExp]> = [
  ['CONTAINER_INIT', contract.CONTAINER_INIT, /ephemeral-builder\/container-init\b/],
  ['BUILDER_ENV', contract.BUILDER_ENV, /ephemeral-builder\/builder\.env/],
  ['KEY_DIR', contract.KEY_DIR, /\/etc\/ssh\/ephemeral\b/],
  ['SSHD_DROP_IN', contract.SSHD_DROP_IN, /sshd_config\.d\/ephemeral-builder/],
  ['SBOM_PATH', contract.SBOM_PATH, /share\/ephemeral-builder\/sbom/],
  ['IMAGE_INFO_PATH', contract.IMAGE_INFO_PATH, /share\/ephemeral-builder\/image\.env/],
  ['templateOf', `'${contract.templateOf('builder')}'`, /\.template\b["'`/]/],
];

describe('the image contract', () => {
  const files = SCANNED.flatMap((d) => productFiles(path.join(REPO, d)));

  it('scans the product', () => {
    expect(files.some((f) => f.endsWith('host/bin/spawn'))).toBe(true);
    expect(files.some((f) => f.endsWith('overlays/container-init/overlay.ts'))).toBe(true);
  });

  for (const [name, value, literal] of LITERALS) {
    it(`${name} is written in the contract alone`, () => {
      expect(value).toMatch(literal);
      const strays = files.filter((f) => literal.test(fs.readFileSync(f, 'latin1'))).map((f) => path.relative(REPO, f));
      expect(strays, `import it from pipeline/image-contract.ts (host/ files: a placeholder of pipeline/host-package/render.ts)`).toEqual([]);
    });
  }

  it('reaches the host scripts through their placeholders', () => {
    const recipe = recipeSchema.parse({});
    const values = placeholders(recipe);
    expect(values.CONTAINER_INIT).toBe(contract.CONTAINER_INIT);
    expect(values.KEY_DIR).toBe(contract.KEY_DIR);
    const spawn = renderHostFiles(recipe).files.find((f) => f.path.endsWith('/spawn'));
    expect(spawn?.content).toContain(`${contract.CONTAINER_INIT}`);
    expect(spawn?.content).toContain(`:${contract.KEY_DIR}:idmap`);
  });
});
