// dpkg-deb staging directories for the anchors: the image tree under usr/lib/<name>/images/<ver>/
// plus DEBIAN/control with the image package's own control fields (pipeline/pack/layout.ts), so
// `dpkg-deb -b` and our writer package the same files under the same control data.
import fs from 'node:fs';
import path from 'node:path';
import { controlFields, type LayoutRecipe } from '../../pipeline/pack/layout.ts';
import { formatControl, type ControlFields } from '../../pipeline/pack/control.ts';
import { artifactNames, imageDir } from '../../pipeline/pack/debian-version.ts';
import { run } from './proc.ts';
import { treeBytes } from './bench.ts';

export interface Staging {
  dir: string;
  /** The image inside the staging directory. */
  imageRoot: string;
}

/**
 * A staging directory for `dpkg-deb -b` at `dir`: `tree` is moved in (`move`, instant on one
 * filesystem) or copied (`cp -a`, keeping owners, modes and links), and DEBIAN/control written.
 */
export async function makeStaging(dir: string, tree: string, r: LayoutRecipe, how: 'move' | 'copy'): Promise<Staging> {
  fs.rmSync(dir, { recursive: true, force: true });
  const imageRoot = path.join(dir, imageDir(r.name, r.version));
  fs.mkdirSync(path.dirname(imageRoot), { recursive: true });
  if (how === 'move') fs.renameSync(tree, imageRoot);
  else await run('cp', ['-a', '--reflink=auto', tree, imageRoot]);
  const fields = controlFields(r, artifactNames(r.name, r.version, r.architecture)).image;
  fs.mkdirSync(path.join(dir, 'DEBIAN'), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'DEBIAN/control'), formatControl(fields, Math.ceil(treeBytes(imageRoot) / 1024)));
  fs.writeFileSync(`${dir}.fields.json`, JSON.stringify(fields));
  return { dir, imageRoot };
}

/** The control fields makeStaging used (kept next to the staging directory, for the worker). */
export function controlFromStaging(dir: string): ControlFields {
  return JSON.parse(fs.readFileSync(`${dir.replace(/\/+$/, '')}.fields.json`, 'utf8')) as ControlFields;
}
