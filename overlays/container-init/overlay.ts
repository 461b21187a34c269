// Overlay container-init: the first process of every container (container-init.sh, a shell
// script: it fills the tmpfs home from its template and execs `sshd -i`), its settings from the
// recipe and the image contract, and the mount points for the recipe's binds, which nspawn cannot
// create on a read-only root.
// A compiled form saved less per connection than it cost to keep (bench/README.md,
// connect-ablation), so there is none.
// Reads: user.name, user.uid, user.gid, binds.
import fs from 'node:fs';
import path from 'node:path';
import { defineOverlay } from '../../pipeline/overlay/define.ts';
import { BUILDER_ENV, CONTAINER_INIT, homeOf, templateOf } from '../../pipeline/image-contract.ts';

const SCRIPT = path.join(import.meta.dirname, 'container-init.sh');

/** container-init and its settings for the builder user: path, content and mode of each. */
export function containerInitFiles(user: { name: string; uid: number; gid: number }): Array<{ path: string; content: string; mode: number }> {
  const { name, uid, gid } = user;
  return [
    { path: CONTAINER_INIT, content: fs.readFileSync(SCRIPT, 'utf8').replace('@BUILDER_ENV@', BUILDER_ENV), mode: 0o755 },
    {
      path: BUILDER_ENV,
      content: `BUILDER_USER=${name}\nBUILDER_UID=${uid}\nBUILDER_GID=${gid}\nBUILDER_HOME=${homeOf(name)}\nBUILDER_TEMPLATE=${templateOf(name)}\n`,
      mode: 0o644,
    },
  ];
}

export default defineOverlay({
  description: 'writes container-init and its settings, and creates the bind mount points',
  apply({ image, recipe }) {
    for (const f of containerInitFiles(recipe.user)) image.writeFile(f.path, f.content, { mode: f.mode });
    for (const bind of recipe.binds) {
      const target = bind.target ?? bind.source;
      if (image.exists(target)) continue;
      if (bind.type === 'directory') image.mkdir(target);
      else image.writeFile(target, '', { mode: 0o644 });
    }
  },
});
