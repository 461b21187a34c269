// Licences of a Debian package as SPDX, from its machine-readable debian/copyright
// (/usr/share/doc/<package>/copyright, copyright-format 1.0): every Files paragraph's License
// field, each Debian short name mapped to an SPDX identifier through an explicit table or because
// it already is one. Anything else (a name with no exact SPDX equivalent, an exception SPDX does not
// list, a file that is not machine-readable) makes the package's licence NOASSERTION: an SBOM is
// used for compliance, so it never guesses.
import { SPDX } from '@cyclonedx/cyclonedx-library';

/** Debian short names (lower case) whose SPDX identifier is not the name itself. */
const DEBIAN_TO_SPDX: Record<string, string> = {
  expat: 'MIT',
  // copyright-format 1.0: a GPL without a version means any version.
  gpl: 'GPL-1.0-or-later',
  'gpl-1': 'GPL-1.0-only',
  'gpl-1+': 'GPL-1.0-or-later',
  'gpl-2': 'GPL-2.0-only',
  'gpl-2+': 'GPL-2.0-or-later',
  'gpl-2.0': 'GPL-2.0-only',
  'gpl-2.0+': 'GPL-2.0-or-later',
  'gpl-3': 'GPL-3.0-only',
  'gpl-3+': 'GPL-3.0-or-later',
  'gpl-3.0': 'GPL-3.0-only',
  'gpl-3.0+': 'GPL-3.0-or-later',
  'lgpl-2': 'LGPL-2.0-only',
  'lgpl-2+': 'LGPL-2.0-or-later',
  'lgpl-2.0': 'LGPL-2.0-only',
  'lgpl-2.0+': 'LGPL-2.0-or-later',
  'lgpl-2.1': 'LGPL-2.1-only',
  'lgpl-2.1+': 'LGPL-2.1-or-later',
  'lgpl-3': 'LGPL-3.0-only',
  'lgpl-3+': 'LGPL-3.0-or-later',
  'lgpl-3.0': 'LGPL-3.0-only',
  'lgpl-3.0+': 'LGPL-3.0-or-later',
  'agpl-3': 'AGPL-3.0-only',
  'agpl-3+': 'AGPL-3.0-or-later',
  'gfdl-1.2': 'GFDL-1.2-only',
  'gfdl-1.2+': 'GFDL-1.2-or-later',
  'gfdl-1.3': 'GFDL-1.3-only',
  'gfdl-1.3+': 'GFDL-1.3-or-later',
  'mpl-1.1': 'MPL-1.1',
  'mpl-2.0': 'MPL-2.0',
  'apache-2': 'Apache-2.0',
  'bsd-2-clause': 'BSD-2-Clause',
  'bsd-3-clause': 'BSD-3-Clause',
  'bsd-4-clause': 'BSD-4-Clause',
  cc0: 'CC0-1.0',
  zlib: 'Zlib',
  'psf-2': 'PSF-2.0',
};

/** SPDX exceptions Debian names in "X with Y exception", by Debian's Y (lower case). */
const EXCEPTIONS: Record<string, string> = {
  'gcc-exception-3.1': 'GCC-exception-3.1',
  'gcc-3.1': 'GCC-exception-3.1',
  'autoconf-exception-3.0': 'Autoconf-exception-3.0',
  'autoconf-3.0': 'Autoconf-exception-3.0',
  'bison-exception-2.2': 'Bison-exception-2.2',
  'bison-2.2': 'Bison-exception-2.2',
  'classpath-exception-2.0': 'Classpath-exception-2.0',
  'classpath-2.0': 'Classpath-exception-2.0',
  'llvm-exception': 'LLVM-exception',
  'linux-syscall-note': 'Linux-syscall-note',
};

export type PackageLicences = { spdx: string[] } | { noAssertion: string };

function spdxId(debianName: string): string | undefined {
  const mapped = DEBIAN_TO_SPDX[debianName.toLowerCase()];
  if (mapped) return mapped;
  // Already an SPDX identifier, at most in another letter case ("BSD-3-clause").
  const fixed = SPDX.fixupSpdxId(debianName);
  return fixed && SPDX.isSupportedSpdxId(fixed) ? fixed : undefined;
}

/** One License field's first line as an SPDX expression, or undefined when any part has no exact equivalent. */
export function spdxExpression(field: string): string | undefined {
  const text = field.trim().replace(/,\s*(?=(or|and)\s)/gi, ' ');
  if (!text || /[()]/.test(text)) return undefined;
  const parts = text.split(/\s+(or|and)\s+/i);
  const out: string[] = [];
  for (const [i, part] of parts.entries()) {
    if (i % 2 === 1) {
      out.push(part.toUpperCase());
      continue;
    }
    const withMatch = /^(\S+)\s+with\s+(\S+)\s+exception$/i.exec(part.trim());
    if (withMatch) {
      const id = spdxId(withMatch[1] as string);
      const exception = EXCEPTIONS[(withMatch[2] as string).toLowerCase()] ?? EXCEPTIONS[`${(withMatch[2] as string).toLowerCase()}-exception`];
      if (!id || !exception) return undefined;
      out.push(`${id} WITH ${exception}`);
      continue;
    }
    if (/\s/.test(part.trim())) return undefined;
    const id = spdxId(part.trim());
    if (!id) return undefined;
    out.push(id);
  }
  return out.join(' ');
}

/** The licences a machine-readable copyright file declares for the package's files. */
export function licencesFromCopyright(text: string | undefined): PackageLicences {
  if (text === undefined) return { noAssertion: 'no copyright file' };
  const paragraphs = text.replace(/\r\n/g, '\n').split(/\n[ \t]*\n/);
  const header = paragraphs[0] ?? '';
  if (!/^Format:\s*\S*(copyright-format|dep5|dep-5)/im.test(header)) return { noAssertion: 'copyright file is not machine-readable' };
  const found = new Set<string>();
  for (const para of paragraphs) {
    if (!/^Files:/m.test(para)) continue;
    const license = /^License:[ \t]*(.*)$/m.exec(para)?.[1];
    if (!license) continue;
    const expr = spdxExpression(license);
    if (!expr) return { noAssertion: `no SPDX equivalent for "${license.trim()}"` };
    found.add(expr);
  }
  return found.size ? { spdx: [...found].sort() } : { noAssertion: 'no Files paragraph with a License' };
}
