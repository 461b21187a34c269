// The image contract: the paths and names every image has, decided here once, by the pipeline.
// Overlays write them, verify checks them, pack adds the records, the host's scripts rely on them
// (pipeline/host-package/render.ts fills them in as placeholders) and the benchmarks start containers with
// them. Nothing else spells these paths out; a unit test looks for strays.

/** The image's own directory of what ephemeral-builder puts there (not named after the recipe: every image has it). */
export const IMAGE_LIB = '/usr/lib/ephemeral-builder';
/** The container's first process: fills the tmpfs home from its template, then execs `sshd -i`. */
export const CONTAINER_INIT = `${IMAGE_LIB}/container-init`;
/** What container-init knows of the builder: BUILDER_USER, BUILDER_UID, BUILDER_GID. */
export const BUILDER_ENV = `${IMAGE_LIB}/builder.env`;
/** The empty mount point of the host's ssh keys (bound in read-only by every host). */
export const KEY_DIR = '/etc/ssh/ephemeral';
/** The image's sshd settings, read before Debian's own. */
export const SSHD_DROP_IN = '/etc/ssh/sshd_config.d/ephemeral-builder.conf';
/** The image's SBOM, and what the image is (shell variables), both added when it is packed. */
export const SBOM_PATH = '/usr/share/ephemeral-builder/sbom.cdx.json';
export const IMAGE_INFO_PATH = '/usr/share/ephemeral-builder/image.env';

/** The builder's home: an empty tmpfs mount point in the image. */
export function homeOf(user: string): string {
  return `/home/${user}`;
}

/** The home every container starts from, copied onto the tmpfs. */
export function templateOf(user: string): string {
  return `${homeOf(user)}.template`;
}
