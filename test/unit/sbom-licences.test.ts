// Debian copyright files to SPDX: the short names that have an exact SPDX equivalent map to it,
// expressions keep their or/and, and anything without an exact equivalent (or a file that is not
// machine-readable) is NOASSERTION, never a guess.
import { describe, expect, it } from 'vitest';
import { licencesFromCopyright, spdxExpression } from '../../pipeline/sbom/copyright-licenses.ts';

const header = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n';
const files = (...licences: string[]) =>
  [header, ...licences.map((l, i) => `Files: dir${i}/*\nCopyright: someone\nLicense: ${l}\n`), 'License: GPL-2+\n This program is free software...\n'].join(
    '\n',
  );

describe('spdxExpression', () => {
  it.each([
    ['GPL-2+', 'GPL-2.0-or-later'],
    ['GPL-2', 'GPL-2.0-only'],
    ['LGPL-2.1+', 'LGPL-2.1-or-later'],
    ['Expat', 'MIT'],
    ['BSD-3-clause', 'BSD-3-Clause'],
    ['Apache-2.0', 'Apache-2.0'],
    ['zlib', 'Zlib'],
    ['GPL', 'GPL-1.0-or-later'],
    ['GPL-2+ or LGPL-2.1+', 'GPL-2.0-or-later OR LGPL-2.1-or-later'],
    ['BSD-3-clause, and Expat', 'BSD-3-Clause AND MIT'],
    ['GPL-3+ with GCC-exception-3.1 exception', 'GPL-3.0-or-later WITH GCC-exception-3.1'],
    ['GPL-2 with Linux-syscall-note exception', 'GPL-2.0-only WITH Linux-syscall-note'],
  ])('%s → %s', (debian, spdx) => {
    expect(spdxExpression(debian)).toBe(spdx);
  });

  it.each(['public-domain', 'Artistic or GPL-1+', 'MIT/X11', 'GPL-3+ with Bison exception', 'BSD-variant', '(GPL-2+ or MIT) and BSD-3-clause', ''])(
    '%j has no exact SPDX equivalent',
    (debian) => {
      expect(spdxExpression(debian)).toBeUndefined();
    },
  );
});

describe('licencesFromCopyright', () => {
  it("collects every Files paragraph's licence, sorted and without duplicates, ignoring stand-alone licence texts", () => {
    expect(licencesFromCopyright(files('LGPL-2.1+', 'GPL-2+', 'LGPL-2.1+'))).toEqual({ spdx: ['GPL-2.0-or-later', 'LGPL-2.1-or-later'] });
  });

  it('is NOASSERTION for the whole package when one licence has no equivalent', () => {
    expect(licencesFromCopyright(files('GPL-2+', 'public-domain'))).toEqual({ noAssertion: 'no SPDX equivalent for "public-domain"' });
  });

  it('is NOASSERTION for a copyright file that is not machine-readable, or none', () => {
    expect(licencesFromCopyright('This is the Debian package of foo.\n\nIt is licensed under the GPL.\n')).toEqual({
      noAssertion: 'copyright file is not machine-readable',
    });
    expect(licencesFromCopyright(undefined)).toEqual({ noAssertion: 'no copyright file' });
  });
});
