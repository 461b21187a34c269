// Where the builder's own files are: the checkout's root when it runs from source, dist/ when it
// runs as the installed npm package (whose build lays out pipeline/, overlays/ and host/ the same
// way there). The built-in overlays, the host files and the package's version are found from here.
import fs from 'node:fs';
import path from 'node:path';

/** The directory that holds pipeline/, overlays/ and host/. */
export const ASSET_ROOT = path.resolve(import.meta.dirname, '..');

/** The builder's version, from the package.json above the asset root (the checkout's, or the package's). */
export const BUILDER_VERSION: string = (() => {
  for (const dir of [ASSET_ROOT, path.dirname(ASSET_ROOT)]) {
    const file = path.join(dir, 'package.json');
    if (!fs.existsSync(file)) continue;
    const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'ephemeral-builder' && pkg.version) return pkg.version;
  }
  throw new Error(`no package.json of ephemeral-builder above ${ASSET_ROOT}`);
})();

/** An overlay's script: overlay.ts in a checkout or a recipe's repository, overlay.js in the installed package. */
export function overlayScript(dir: string): string | undefined {
  return ['overlay.ts', 'overlay.js'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
}
