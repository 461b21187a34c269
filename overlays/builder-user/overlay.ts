// Overlay builder-user: the login user GitLab Runner connects as, written straight into passwd,
// group, shadow and gshadow (deterministic: no useradd timestamps), plus the empty home mount point.
// Reads: user.name, user.uid, user.gid, user.shell, sourceDateEpoch.
import { defineOverlay } from '../../pipeline/overlay/define.ts';
import { homeOf } from '../../pipeline/image-contract.ts';
import { addUser } from './passwd.ts';

const MODES = { passwd: 0o644, group: 0o644, shadow: 0o640, gshadow: 0o640 } as const;

export default defineOverlay({
  description: 'adds the builder user without useradd, so no timestamp depends on the build date',
  apply({ image, recipe }) {
    const { user } = recipe;
    const home = homeOf(user.name);
    const tables = {
      passwd: image.readText('/etc/passwd'),
      group: image.readText('/etc/group'),
      shadow: image.readText('/etc/shadow'),
      gshadow: image.readTextIfExists('/etc/gshadow') ?? '',
    };
    const next = addUser(tables, { ...user, home, lastChangeDays: Math.floor(recipe.sourceDateEpoch / 86400) });
    // shadow files are group "shadow" in Debian; keep whatever group the image gave them.
    const shadowGid = Number(/^shadow:x:(\d+):/m.exec(tables.group)?.[1] ?? 0);
    for (const table of ['passwd', 'group', 'shadow', 'gshadow'] as const) {
      image.writeFile(`/etc/${table}`, next[table], { mode: MODES[table], gid: table.endsWith('shadow') ? shadowGid : 0 });
    }
    // The tmpfs mount point: nspawn cannot create it on a read-only root.
    image.mkdir(home, { mode: 0o700, uid: user.uid, gid: user.gid });
  },
});
