// Overlay container-init: the first process of every container (files/), its settings from the
// recipe, and the mount points for the recipe's binds, which nspawn cannot create on a read-only
// root. Reads: user.name, user.uid, user.gid, binds.
import { defineOverlay } from '../../pipeline/overlay/define.ts';

export default defineOverlay({
  description: 'writes the container init settings and creates the bind mount points',
  apply({ image, recipe }) {
    const { name, uid, gid } = recipe.user;
    image.writeFile('/usr/lib/ephemeral-builder/builder.env', `BUILDER_USER=${name}\nBUILDER_UID=${uid}\nBUILDER_GID=${gid}\n`);
    for (const bind of recipe.binds) {
      const target = bind.target ?? bind.source;
      if (image.exists(target)) continue;
      if (bind.type === 'directory') image.mkdir(target);
      else image.writeFile(target, '', { mode: 0o644 });
    }
  },
});
