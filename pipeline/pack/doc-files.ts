// The files every Debian binary package ships in /usr/share/doc/<pkg>/: copyright and the
// changelog, gzipped reproducibly (zlib's gzip header has no file name and mtime 0, like gzip -n).
// Reads: name, version, maintainer, suite, digest (recipe), SOURCE_DATE_EPOCH.
//
// The version has no Debian revision, so lintian treats the packages as native, and a native
// package's changelog is /usr/share/doc/<pkg>/changelog.gz (lintian tag
// wrong-name-for-changelog-of-native-package otherwise).
import { gzipSync } from 'node:zlib';
import type { SyntheticFile } from './tar-entries.ts';

export interface DocInput {
  package: string;
  debianVersion: string;
  maintainer: string;
  sourceDateEpoch: number;
  /** Lines of the one changelog entry, without the leading "  * ". */
  changes: string[];
  /** Extra paragraph(s) of the copyright file's header Comment. */
  comment?: string[];
}

const EXPAT = `Permission is hereby granted, free of charge, to any person obtaining a
copy of this software and associated documentation files (the "Software"),
to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense,
and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:
.
The above copyright notice and this permission notice shall be included
in all copies or substantial portions of the Software.
.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.`;

/** "Thu, 01 Jan 1970 00:00:00 +0000", the date format of a Debian changelog trailer. */
export function rfc2822(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toUTCString().replace(/GMT$/, '+0000');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? ' .' : ` ${l}`))
    .join('\n');
}

/** A machine-readable (DEP-5) copyright file. The packaging is MIT (Expat), as the project is. */
export function copyrightFile(d: DocInput): string {
  const year = new Date(d.sourceDateEpoch * 1000).getUTCFullYear();
  const holder = d.maintainer.replace(/\s*<[^>]*>\s*$/, '');
  const header = ['Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/', `Upstream-Name: ${d.package}`];
  if (d.comment?.length) header.push(`Comment:${indent(d.comment.join('\n\n')).replace(/^ /, ' ')}`);
  return `${header.join('\n')}\n\nFiles: *\nCopyright: ${year} ${holder}\nLicense: Expat\n\nLicense: Expat\n${indent(EXPAT.replaceAll('\n.\n', '\n\n'))}\n`;
}

/** Folds one changelog item: "  * " first, "    " after, lines of at most 80 characters (lintian). */
function changelogItem(text: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && 4 + line.length + 1 + word.length > 80) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.map((l, i) => `${i === 0 ? '  * ' : '    '}${l}`).join('\n');
}

export function changelogText(d: DocInput): string {
  const items = d.changes.map(changelogItem).join('\n');
  return `${d.package} (${d.debianVersion}) unstable; urgency=medium\n\n${items}\n\n -- ${d.maintainer}  ${rfc2822(d.sourceDateEpoch)}\n`;
}

/** copyright and changelog.gz of one package, under usr/share/doc/<pkg>/. */
export function docFiles(d: DocInput): SyntheticFile[] {
  const dir = `usr/share/doc/${d.package}`;
  return [
    { path: `${dir}/copyright`, mode: 0o644, content: copyrightFile(d) },
    { path: `${dir}/changelog.gz`, mode: 0o644, content: gzipSync(changelogText(d), { level: 9 }) },
  ];
}

export function lintianOverridesFile(pkg: string, content: string): SyntheticFile {
  return { path: `usr/share/lintian/overrides/${pkg}`, mode: 0o644, content };
}
