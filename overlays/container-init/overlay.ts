// Overlay container-init: the first process of every container (files/, a shell script: it fills
// the tmpfs home from its template and execs `sshd -i`), its settings from the recipe, and the
// mount points for the recipe's binds, which nspawn cannot create on a read-only root.
// A compiled form saved less per connection than it cost to keep (bench/README.md,
// connect-ablation), so there is none.
// Reads: user.name, user.uid, user.gid, binds.
import { defineOverlay } from '../../pipeline/overlay/define.ts';
import { BUILDER_ENV } from '../../pipeline/image-contract.ts';

export default defineOverlay({
  description: 'writes container-init\'s settings and creates the bind mount points',
  apply({ image, recipe }) {
    const { name, uid, gid } = recipe.user;
    image.writeFile(BUILDER_ENV, `BUILDER_USER=${name}\nBUILDER_UID=${uid}\nBUILDER_GID=${gid}\n`);
    for (const bind of recipe.binds) {
      const target = bind.target ?? bind.source;
      if (image.exists(target)) continue;
      if (bind.type === 'directory') image.mkdir(target);
      else image.writeFile(target, '', { mode: 0o644 });
    }
  },
});
