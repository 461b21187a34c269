// The SBOM of a verified image tree: its dpkg database, each package's machine-readable copyright
// file, and os-release for the purl's distro qualifier. Where it goes: into the image itself at
// SBOM_PATH (so a host, and a job, can read what the image holds) and into out/ as a release
// artifact. Next to it, IMAGE_INFO_PATH says what the image is. Reads: name, version,
// architecture, sourceDateEpoch, digest.
import { ImageRoot } from '../overlay/image-root.ts';
import type { ResolvedRecipe } from '../recipe/resolve.ts';
import type { VerifiedTree } from '../stage.ts';
import { licencesFromCopyright } from './copyright-licenses.ts';
import { renderSbom } from './cyclonedx.ts';
import { installedPackages } from './dpkg-status.ts';

export function imageInfo(
  tree: Pick<VerifiedTree, 'treeDigest'>,
  r: Pick<ResolvedRecipe, 'name' | 'version' | 'architecture' | 'sourceDateEpoch' | 'digest'>,
): string {
  return [
    '# What this image is (written by ephemeral-builder when it packed the image).',
    `IMAGE_NAME=${r.name}`,
    `IMAGE_VERSION=${r.version}`,
    `IMAGE_ARCHITECTURE=${r.architecture}`,
    // SOURCE_DATE_EPOCH: the newest Release date of its sources, the image's "as of" date.
    `IMAGE_DATE=${r.sourceDateEpoch}`,
    `IMAGE_DATE_UTC=${new Date(r.sourceDateEpoch * 1000).toISOString().replace('.000Z', 'Z')}`,
    `IMAGE_TREE_SHA256=${tree.treeDigest}`,
    `IMAGE_RECIPE_SHA256=${r.digest}`,
    '',
  ].join('\n');
}

/** debian-13, or debian-<codename> for a release without a number (testing, unstable). */
function distroOf(image: ImageRoot): string {
  const osRelease = image.readTextIfExists('/etc/os-release') ?? image.readTextIfExists('/usr/lib/os-release') ?? '';
  const value = (key: string) => new RegExp(`^${key}="?([^"\\n]*)"?$`, 'm').exec(osRelease)?.[1];
  return `${value('ID') ?? 'debian'}-${value('VERSION_ID') ?? value('VERSION_CODENAME') ?? 'unknown'}`;
}

export function imageSbom(
  tree: Pick<VerifiedTree, 'rootfs' | 'treeDigest'>,
  r: Pick<ResolvedRecipe, 'name' | 'version' | 'architecture' | 'sourceDateEpoch'>,
): string {
  const image = new ImageRoot(tree.rootfs);
  const packages = installedPackages(image).map((p) => ({
    ...p,
    licences: licencesFromCopyright(image.readTextIfExists(`/usr/share/doc/${p.name}/copyright`)),
  }));
  return renderSbom({
    name: r.name,
    version: r.version,
    architecture: r.architecture,
    treeDigest: tree.treeDigest,
    sourceDateEpoch: r.sourceDateEpoch,
    distro: distroOf(image),
    packages,
  });
}
