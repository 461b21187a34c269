// Copies an overlay's files/ tree into the image: regular files, directories and symlinks, owned
// by root, modes as in the source. Every destination is resolved inside the image root.
import fs from 'node:fs';
import path from 'node:path';
import type { ImageRoot } from './image-root.ts';

export function copyFilesInto(filesDir: string, image: ImageRoot): number {
  let count = 0;
  const walk = (dir: string, rel: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const src = path.join(dir, entry.name);
      const imagePath = `${rel}/${entry.name}`;
      const st = fs.lstatSync(src);
      if (entry.isSymbolicLink()) image.symlink(imagePath, fs.readlinkSync(src));
      else if (entry.isDirectory()) {
        image.mkdir(imagePath, { mode: st.mode & 0o7777 });
        walk(src, imagePath);
      } else if (entry.isFile()) image.writeFile(imagePath, fs.readFileSync(src), { mode: st.mode & 0o7777 });
      else throw new Error(`${src}: only files, directories and symlinks may be in an overlay`);
      count++;
    }
  };
  walk(filesDir, '');
  return count;
}
