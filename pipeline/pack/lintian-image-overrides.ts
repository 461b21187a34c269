// Lintian tags that come from shipping a foreign root filesystem inside a .deb, each with its
// reason. renderHostFiles() renders them into usr/share/lintian/overrides/<name>-image-<ver>.
// Reads: name, version.
//
// Every override is scoped to the image directory (`tag *[usr/lib/<name>/images/<ver>/*]`; lintian
// matches the context with * and ? as the only wildcards), so
// the same tag on the package's own files (docs, changelog, copyright) is still reported: those
// are fixed, not overridden. The list is of errors and warnings only (info tags do not fail the
// lint). It was taken from lintian 2.116 (bookworm) on trixie images: minbase + openssh-server +
// git, and recipes/default.ts (build-essential, composer, dbus, systemd-container, curl, wget,
// rsync). A tag listed here that an image does not trigger is only an info-level
// `unused-override`; a tag an image triggers that is not listed fails the lint, on purpose:
// decide whether it is inherent to a rootfs (add it here with the reason) or a defect (fix it).
export interface LintianOverride {
  tag: string;
  reason: string;
  /**
   * The hint's context as a lintian glob, for the image directory `dir`. Default
   * `*[<dir>/*]`: lintian ends most hints with the file in brackets.
   */
  context?: (dir: string) => string;
}

const ROOTFS = 'the image is a complete Debian root file system that runs inside systemd-nspawn, not on the host';

export const IMAGE_LINTIAN_OVERRIDES: LintianOverride[] = [
  // ELF files and libraries of the image's own packages, checked by Debian when they were built.
  { tag: 'custom-library-search-path', reason: `${ROOTFS}; its binaries use the library paths of its own packages` },
  { tag: 'embedded-library', reason: `${ROOTFS}; its libraries are the Debian packages installed in it` },
  { tag: 'undeclared-elf-prerequisites', reason: `${ROOTFS}; its binaries find their libraries inside the image, not through this package's Depends` },
  {
    tag: 'shared-library-lacks-prerequisites',
    reason: `${ROOTFS}; its libraries come from its own Debian packages, whose dependencies apt resolved inside the image`,
  },
  { tag: 'library-not-linked-against-libc', reason: `${ROOTFS}; perl and other modules in it are built this way by their Debian packages` },
  { tag: 'shared-library-is-executable', reason: `${ROOTFS}; its dynamic loader (ld-linux) is executable as libc6 ships it` },
  { tag: 'static-library-has-unneeded-sections', reason: `${ROOTFS}; static libraries of its -dev packages are as Debian ships them` },
  { tag: 'unstripped-static-library', reason: `${ROOTFS}; static libraries of its -dev packages are as Debian ships them` },
  { tag: 'unstripped-binary-or-object', reason: `${ROOTFS}; objects of its packages (e.g. gcc's crt files) are as Debian ships them` },
  { tag: 'statically-linked-binary', reason: `${ROOTFS}; static binaries in it are as its Debian packages ship them` },
  { tag: 'binary-from-other-architecture', reason: `${ROOTFS}; firmware and helper binaries of its packages are as Debian ships them` },
  { tag: 'no-code-sections', reason: `${ROOTFS}; libc6-dev ships these empty static stubs (libdl.a, libanl.a) on purpose` },
  {
    tag: 'unpack-message-for-deb-data',
    reason: `${ROOTFS}; lintian's ar cannot open some static libraries of its -dev packages (e.g. libm.a, a linker script)`,
    // This hint names the file without brackets: "ar failed for usr/lib/…/libm.a".
    context: (dir) => `ar failed for ${dir}/*`,
  },
  { tag: 'hardening-no-pie', reason: `${ROOTFS}; its compiler drivers are built this way by gcc's Debian packages` },
  { tag: 'arch-dependent-file-in-usr-share', reason: `${ROOTFS}; files of its own packages, placed where those packages put them` },
  // Dependencies between programs inside the image: apt resolved them when the image was built.
  { tag: 'missing-depends-on-sensible-utils', reason: `${ROOTFS}; sensible-utils is installed in the image when its packages need it` },
  { tag: 'mawk-script-but-no-mawk-dep', reason: `${ROOTFS}; its scripts run with the interpreters installed in the image` },
  { tag: 'gawk-script-but-no-gawk-dep', reason: `${ROOTFS}; its scripts run with the interpreters installed in the image` },
  { tag: 'python3-script-but-no-python3-dep', reason: `${ROOTFS}; its scripts run with the interpreters installed in the image` },
  { tag: 'tclsh-script-but-no-tclsh-dep', reason: `${ROOTFS}; its scripts run with the interpreters installed in the image` },
  { tag: 'php-script-but-no-php-cli-dep', reason: `${ROOTFS}; its scripts run with the interpreters installed in the image` },
  { tag: 'ruby-script-but-no-ruby-dep', reason: `${ROOTFS}; its scripts run with the interpreters installed in the image` },
  { tag: 'wish-script-but-no-wish-dep', reason: `${ROOTFS}; its scripts run with the interpreters installed in the image` },
  { tag: 'php-script-with-unusual-interpreter', reason: `${ROOTFS}; its scripts name the interpreters of the image (e.g. php8.4)` },
  { tag: 'missing-dep-for-interpreter', reason: `${ROOTFS}; example scripts of its packages name interpreters the image may not need` },
  { tag: 'unusual-interpreter', reason: `${ROOTFS}; its scripts name the interpreters of the image (e.g. a versioned perl)` },
  { tag: 'script-not-executable', reason: `${ROOTFS}; these are shell fragments its packages source, shipped with the packages' modes` },
  { tag: 'uses-dpkg-database-directly', reason: `${ROOTFS}; its own dpkg and apt tools read the image's dpkg database` },
  // The image's /etc, units and package state belong to the container, not to the host.
  { tag: 'service-file-is-not-a-file', reason: `${ROOTFS}; these are the image's own systemd enablement symlinks, never read by the host's systemd` },
  { tag: 'systemd-service-file-refers-to-unusual-wantedby-target', reason: `${ROOTFS}; units of its own packages, never loaded by the host's systemd` },
  {
    tag: 'directory-in-etc-sv-directory-without-executable-run-script',
    reason: `${ROOTFS}; runit service directories of its own packages, unused on the host`,
  },
  {
    tag: 'absolute-symlink-in-top-level-folder',
    reason: `${ROOTFS}; absolute symlinks (e.g. /etc/alternatives) resolve inside the container, where the image is /`,
  },
  { tag: 'broken-gz', reason: `${ROOTFS}; the image's dpkg database names an alternative after a .gz file it does not gzip` },
  { tag: 'privacy-breach-generic', reason: `${ROOTFS}; documentation of its packages (e.g. gcc's NEWS.html) as Debian ships it; nothing on the host opens it` },
  { tag: 'privacy-breach-logo', reason: `${ROOTFS}; documentation of its packages (e.g. gcc's NEWS.html) as Debian ships it; nothing on the host opens it` },
  { tag: 'national-encoding', reason: `${ROOTFS}; files of its own packages (e.g. perl's Encode tables) in their native encodings` },
  // Owners and modes are those its packages and its builder user set; dpkg unpacks them as they are.
  { tag: 'wrong-file-owner-uid-or-gid', reason: `${ROOTFS}; its files keep the numeric owners of the image (system groups of its packages, the builder user)` },
  {
    tag: 'elevated-privileges',
    reason: `${ROOTFS}; its setuid/setgid programs (su, passwd, ssh-agent) act inside the container, whose users are private (--private-users)`,
  },
  { tag: 'non-standard-dir-perm', reason: `${ROOTFS}; directory modes set by its packages (e.g. /etc/credstore 0700, /var/cache/ldconfig 0700)` },
  { tag: 'non-standard-file-perm', reason: `${ROOTFS}; file modes set by its packages (e.g. /etc/shadow 0640, /etc/.pwd.lock 0600)` },
  { tag: 'non-standard-executable-perm', reason: `${ROOTFS}; file modes set by its packages` },
  { tag: 'non-standard-setuid-executable-perm', reason: `${ROOTFS}; setuid modes set by its packages, acting inside the container only` },
];

/** The override file: for each tag a "# reason" line, then the override scoped to the image directory. */
export function renderImageLintianOverrides(name: string, version: string): string {
  const dir = `usr/lib/${name}/images/${version}`;
  return IMAGE_LINTIAN_OVERRIDES.map((o) => `# ${o.reason}\n${o.tag} ${o.context ? o.context(dir) : `*[${dir}/*]`}\n`).join('');
}
