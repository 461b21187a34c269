// Overlay template-home: /etc/skel (already sanitized by the dotfiles overlay) becomes
// /home/<user>.template, owned by the user. Every container copies it onto its tmpfs home, so a
// job always starts from this exact home. /home/<user> stays empty: it is the tmpfs mount point.
// Reads: user.name, user.uid, user.gid.
import fs from 'node:fs';
import path from 'node:path';
import { homeOf, templateOf } from '../../pipeline/image-contract.ts';
import { defineOverlay } from '../../pipeline/overlay/define.ts';

export default defineOverlay({
  description: 'copies /etc/skel to the template home, owned by the builder',
  apply({ image, recipe }) {
    const { name, uid, gid } = recipe.user;
    const template = templateOf(name);
    image.remove(template);
    image.mkdir(template, { mode: 0o700, uid, gid });
    const copy = (rel: string) => {
      for (const entry of image.list(`/etc/skel${rel}`).sort()) {
        const src = image.resolve(`/etc/skel${rel}/${entry}`, false);
        const st = fs.lstatSync(src);
        const dest = `${template}${rel}/${entry}`;
        if (st.isDirectory()) {
          image.mkdir(dest, { mode: st.mode & 0o7777, uid, gid });
          copy(`${rel}/${entry}`);
        } else if (st.isFile()) {
          image.writeFile(dest, fs.readFileSync(src), { mode: st.mode & 0o7777, uid, gid });
        } else if (st.isSymbolicLink()) {
          image.symlink(dest, fs.readlinkSync(src));
          fs.lchownSync(image.resolve(dest, false), uid, gid);
        }
      }
    };
    copy('');
    // The mount point must exist and be empty.
    const home = image.resolve(homeOf(name));
    for (const leftover of fs.existsSync(home) ? fs.readdirSync(home) : []) fs.rmSync(path.join(home, leftover), { recursive: true, force: true });
    image.mkdir(homeOf(name), { mode: 0o700, uid, gid });
  },
});
