// Renders the files in host/ (units, spawn helper, host tool, config, maintainer scripts,
// install.sh, lintian overrides) for one recipe: placeholders such as @NAME@ are replaced with
// recipe values. CONTRACT between the host-files work and the pack work; see the types below.
// Reads: name, version, ssh, limits, binds, user.
import type { ResolvedRecipe } from '../recipe/resolve.ts';

export interface HostFile {
  /** Absolute path on the host, e.g. /usr/lib/systemd/system/ephemeral-builder.socket. */
  path: string;
  mode: number;
  content: string | Buffer;
  /** Listed in the host .deb's conffiles (files under /etc). */
  conffile?: boolean;
}

export interface HostPackageFiles {
  /** Files of the host package (<name>_<debver>_<arch>.deb) and of the tarball. */
  files: HostFile[];
  /** Maintainer scripts of the host package, by name. */
  maintainerScripts: Partial<Record<'preinst' | 'postinst' | 'prerm' | 'postrm', string>>;
  /** Maintainer scripts of the image package, if it needs any. */
  imageMaintainerScripts: Partial<Record<'preinst' | 'postinst' | 'prerm' | 'postrm', string>>;
  /** install.sh, shipped next to the tarball. */
  installSh: string;
  /** Contents of usr/share/lintian/overrides/<pkg> for the host and the image package. */
  lintianOverrides: { host?: string; image: string };
}

export function renderHostFiles(_recipe: ResolvedRecipe): HostPackageFiles {
  throw new Error('renderHostFiles is not implemented yet');
}
