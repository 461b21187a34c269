// The image's apt sources, in both forms the build needs: one-line `deb` entries for mmdebstrap,
// and the deb822 files the finished image carries in /etc/apt/sources.list.d/, so that the image
// says what it was built from and `apt` in a container would use the same suites and keys.
import type { ImageRoot } from '../overlay/image-root.ts';
import type { ResolvedSource } from './resolve-sources.ts';

/** Where an extra repository's key goes in the image (apt's documented place for local keys). */
export function imageKeyringPath(repository: string): string {
  return `/etc/apt/keyrings/${repository}.gpg`;
}

export const DEBIAN_SOURCES_FILE = '/etc/apt/sources.list.d/debian.sources';
/** What debian-archive-keyring installs; the Debian entries name it when the image has it. */
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * mmdebstrap's mirror arguments: a `deb` line per source. An extra repository's key is given by
 * its path on the build machine (keyFileOf), because apt runs outside the tree while bootstrapping.
 */
export function debLines(sources: readonly ResolvedSource[], keyFileOf: (source: ResolvedSource) => string): string[] {
  return sources.map((s) => {
    const options = s.key ? ` [signed-by=${keyFileOf(s)}]` : '';
    return `deb${options} ${s.uri} ${s.dist} ${s.components.join(' ')}`;
  });
}

function stanza(uri: string, suites: string[], components: string[], signedBy: string | undefined): string {
  return [
    'Types: deb',
    `URIs: ${uri}`,
    `Suites: ${suites.join(' ')}`,
    `Components: ${components.join(' ')}`,
    ...(signedBy ? [`Signed-By: ${signedBy}`] : []),
    '',
  ].join('\n');
}

/**
 * The deb822 files of the image, path → content: debian.sources with one stanza per Debian URI
 * (the suite and its updates share the mirror), and NAME.sources per extra repository.
 */
export function imageSourcesFiles(sources: readonly ResolvedSource[], debianKeyring: string | undefined): Map<string, string> {
  const files = new Map<string, string>();
  const debian = sources.filter((s) => !s.key);
  const byUri = new Map<string, ResolvedSource[]>();
  for (const s of debian) byUri.set(s.uri, [...(byUri.get(s.uri) ?? []), s]);
  if (debian.length) {
    const stanzas = [...byUri].map(([uri, list]) =>
      stanza(
        uri,
        list.map((s) => s.dist),
        list[0]!.components,
        debianKeyring,
      ),
    );
    files.set(DEBIAN_SOURCES_FILE, `# The Debian suites this image was built from (written by ephemeral-builder).\n${stanzas.join('\n')}`);
  }
  const repositories = new Map<string, ResolvedSource[]>();
  for (const s of sources.filter((x) => x.key)) repositories.set(s.name, [...(repositories.get(s.name) ?? []), s]);
  for (const [name, list] of repositories) {
    files.set(
      `/etc/apt/sources.list.d/${name}.sources`,
      `# Repository "${name}" of the recipe (written by ephemeral-builder).\n${stanza(
        list[0]!.uri,
        list.map((s) => s.dist),
        list[0]!.components,
        imageKeyringPath(name),
      )}`,
    );
  }
  return files;
}

/**
 * Replaces whatever sources the bootstrapper left (mmdebstrap writes its arguments, with the build
 * machine's key paths, to sources.list) with the image's deb822 files and the repositories' keys.
 */
export function writeImageSources(image: ImageRoot, sources: readonly ResolvedSource[]): string[] {
  image.remove('/etc/apt/sources.list');
  for (const entry of image.list('/etc/apt/sources.list.d')) image.remove(`/etc/apt/sources.list.d/${entry}`);
  const written: string[] = [];
  for (const s of sources) {
    if (!s.key || written.includes(imageKeyringPath(s.name))) continue;
    image.writeFile(imageKeyringPath(s.name), s.key.data, { mode: 0o644 });
    written.push(imageKeyringPath(s.name));
  }
  for (const [file, text] of imageSourcesFiles(sources, image.exists(DEBIAN_KEYRING) ? DEBIAN_KEYRING : undefined)) {
    image.writeFile(file, text, { mode: 0o644 });
    written.push(file);
  }
  return written;
}
