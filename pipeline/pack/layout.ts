// What goes where: the image package (the rootfs under /usr/lib/<name>/images/<ver>/), the host
// package (rendered host files), both with their docs and lintian overrides, and the tarball as
// the union of the two. Also the control fields of both packages.
// Reads: name, version, architecture, maintainer, description, suite, user, digest,
// sourceDateEpoch.
import type { HostPackageFiles } from '../host-package/render.ts';
import { keyringPackageName } from '../publish/sources.ts';
import type { ResolvedRecipe } from '../recipe/resolve.ts';
import type { ControlFields } from './control.ts';
import { artifactNames, imageDir, type ArtifactNames } from './debian-version.ts';
import { docFiles, lintianOverridesFile } from './doc-files.ts';
import { mergeEntries, scanTree, syntheticEntries, type SyntheticFile, type TarEntry } from './tar-entries.ts';

export type LayoutRecipe = Pick<
  ResolvedRecipe,
  'name' | 'version' | 'architecture' | 'maintainer' | 'description' | 'suite' | 'user' | 'digest' | 'sourceDateEpoch'
>;

export interface PackageLayout {
  control: ControlFields;
  data: TarEntry[];
  conffiles: string[];
  scripts: HostPackageFiles['maintainerScripts'];
  triggers?: string;
}

export interface PackLayout {
  names: ArtifactNames;
  image: PackageLayout;
  host: PackageLayout;
  tarball: TarEntry[];
}

/** Host file paths are absolute and must stay below / without "..": they land on every host. */
function hostSynthetic(files: HostPackageFiles['files']): SyntheticFile[] {
  return files.map((f) => {
    if (!f.path.startsWith('/') || f.path.split('/').includes('..')) throw new Error(`host file path "${f.path}" must be absolute, without ".."`);
    return { path: f.path, mode: f.mode, content: f.content };
  });
}

export function controlFields(r: LayoutRecipe, names: ArtifactNames, hostDepends: string[] = []): { image: ControlFields; host: ControlFields } {
  const dir = imageDir(r.name, r.version);
  const common = { version: names.debianVersion, architecture: r.architecture, maintainer: r.maintainer, section: 'admin', priority: 'optional' };
  return {
    image: {
      ...common,
      package: names.imagePackage,
      synopsis: `root file system image ${r.version} for ${r.name}`.slice(0, 80),
      description: [
        `A read-only Debian ${r.suite} root file system in ${dir}, from which ${r.name} starts one throw-away systemd-nspawn container per connection. ` +
          `Its login user is ${r.user.name} (uid ${r.user.uid}).`,
        'Each image version is its own package, so several can stay installed side by side; the host package selects the one in use.',
      ],
    },
    host: {
      ...common,
      package: names.hostPackage,
      depends: [`${names.imagePackage} (= ${names.debianVersion})`, 'systemd-container', 'openssh-client', ...hostDepends],
      // The keyring package publish keeps in the repository: apt installs it along, and from then
      // on the host trusts each next signing key before it signs (a key rotation needs no step).
      recommends: [keyringPackageName(r.name)],
      synopsis: r.description,
      description: [
        `${r.name} turns this host into a pool of throw-away build machines for the SSH executor of GitLab Runner: ` +
          'systemd listens on a TCP port and starts a fresh systemd-nspawn container from a read-only image for every connection.',
        `This package holds the socket and service units, the spawn helper, the ${r.name}ctl tool and the default configuration.`,
      ],
    },
  };
}

/**
 * Both packages' files and the tarball's. `rootfs` is scanned once; each list is merged on its
 * own (parents added, sorted, hard links resolved per archive).
 */
/** A file pack adds inside the image (its SBOM, what it is): a path in the image and its text. */
export interface ImageRecordFile {
  path: string;
  content: string;
}

export async function packLayout(r: LayoutRecipe, rootfs: string, hostFiles: HostPackageFiles, records: ImageRecordFile[] = []): Promise<PackLayout> {
  const names = artifactNames(r.name, r.version, r.architecture);
  const sde = r.sourceDateEpoch;
  const fields = controlFields(r, names, hostFiles.depends);
  const dir = imageDir(r.name, r.version);

  const imageTree = await scanTree(rootfs, dir, sde);
  const imageExtras = syntheticEntries(
    [
      ...docFiles({
        package: names.imagePackage,
        debianVersion: names.debianVersion,
        maintainer: r.maintainer,
        sourceDateEpoch: sde,
        changes: [`Image ${r.version} of ${r.name}: Debian ${r.suite}, built from recipe ${r.digest.slice(0, 16)}.`],
        comment: [
          `This package ships a Debian ${r.suite} root file system in ${dir}.`,
          `Each Debian package in it keeps its own copyright and license information in ${dir}/usr/share/doc/<package>/copyright.`,
        ],
      }),
      lintianOverridesFile(names.imagePackage, hostFiles.lintianOverrides.image),
      // Inside the image, so that a host (and a job) can read what the image it runs holds.
      ...records.map((f) => ({ path: `${dir}${f.path}`, mode: 0o644, content: f.content })),
    ],
    sde,
  );

  const hostExtra: SyntheticFile[] = docFiles({
    package: names.hostPackage,
    debianVersion: names.debianVersion,
    maintainer: r.maintainer,
    sourceDateEpoch: sde,
    changes: [`Host part of ${r.name} ${r.version}, for image package ${names.imagePackage}.`],
  });
  if (hostFiles.lintianOverrides.host) hostExtra.push(lintianOverridesFile(names.hostPackage, hostFiles.lintianOverrides.host));
  const hostEntries = syntheticEntries([...hostSynthetic(hostFiles.files), ...hostExtra], sde);

  return {
    names,
    image: { control: fields.image, data: mergeEntries([imageTree, imageExtras], sde), conffiles: [], scripts: hostFiles.imageMaintainerScripts },
    host: {
      control: fields.host,
      data: mergeEntries([hostEntries], sde),
      conffiles: hostFiles.files
        .filter((f) => f.conffile)
        .map((f) => f.path)
        .sort(),
      scripts: hostFiles.maintainerScripts,
      triggers: hostFiles.triggers,
    },
    tarball: mergeEntries([imageTree, imageExtras, hostEntries], sde),
  };
}
