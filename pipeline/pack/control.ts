// The DEBIAN/control file of a binary package: fields in dpkg's usual order, the extended
// description folded to Debian's syntax, and Installed-Size computed the way dpkg-gencontrol does.
// Reads: nothing from the recipe directly (deb-writer's callers pass the values).
import type { TarEntry } from './tar-entries.ts';

export interface ControlFields {
  package: string;
  version: string;
  architecture: string;
  maintainer: string;
  depends?: string[];
  recommends?: string[];
  section: string;
  priority: string;
  /** The one-line synopsis (at most 80 characters). */
  synopsis: string;
  /** Paragraphs of the extended description, plain text; folded here. */
  description: string[];
  homepage?: string;
}

/**
 * Installed-Size in KiB, as dpkg-gencontrol computes it: regular files and symlinks count their
 * size rounded up to KiB (a hard-linked file once), every other entry (directories) counts 1.
 */
export function installedSizeKiB(entries: TarEntry[]): number {
  let kib = 0;
  for (const e of entries) {
    if (e.type === 'file') kib += Math.ceil(e.size / 1024);
    else if (e.type === 'symlink') kib += Math.ceil(Buffer.byteLength(e.linkname ?? '') / 1024);
    else if (e.type === 'directory') kib += 1;
    // 'link': the second name of a hard-linked file adds nothing.
  }
  return kib;
}

/** Folds paragraphs into description continuation lines: " text", with " ." between paragraphs. */
export function foldDescription(paragraphs: string[], width = 79): string[] {
  const lines: string[] = [];
  paragraphs.forEach((para, i) => {
    if (i > 0) lines.push(' .');
    let line = '';
    for (const word of para.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width - 1) {
        lines.push(` ${line}`);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    if (line) lines.push(` ${line}`);
  });
  return lines;
}

export function formatControl(f: ControlFields, installedSize: number): string {
  if (f.synopsis.length > 80 || f.synopsis.includes('\n'))
    throw new Error(`package ${f.package}: the synopsis must be one line of at most 80 characters: "${f.synopsis}"`);
  const lines = [
    `Package: ${f.package}`,
    `Version: ${f.version}`,
    `Architecture: ${f.architecture}`,
    `Maintainer: ${f.maintainer}`,
    `Installed-Size: ${installedSize}`,
  ];
  if (f.depends?.length) lines.push(`Depends: ${f.depends.join(', ')}`);
  if (f.recommends?.length) lines.push(`Recommends: ${f.recommends.join(', ')}`);
  lines.push(`Section: ${f.section}`, `Priority: ${f.priority}`);
  if (f.homepage) lines.push(`Homepage: ${f.homepage}`);
  lines.push(`Description: ${f.synopsis}`, ...foldDescription(f.description));
  return `${lines.join('\n')}\n`;
}
