// Pure parts of publish's release trust and retention: which releases --keep prunes (host and image
// packages together, never the newest, never one a kept package needs), the sizes and durations
// the options take, and how long a key can sign, read from gpg's listing.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../pipeline/errors.ts';
import { parseKeyListing } from '../../pipeline/publish/gpg.ts';
import { entryFromParagraph, type IndexEntry } from '../../pipeline/publish/index-files.ts';
import { parseDuration, parseSize } from '../../pipeline/publish/quantities.ts';
import { planRetention } from '../../pipeline/publish/retention.ts';

function entry(pkg: string, version: string, depends?: string): IndexEntry {
  return entryFromParagraph([
    ['Package', pkg],
    ['Version', version],
    ['Architecture', 'amd64'],
    ...(depends ? [['Depends', depends] as [string, string]] : []),
    ['Filename', `pool/main/e/eb/${pkg}_${version}_amd64.deb`],
    ['SHA256', `${pkg}-${version}`],
  ]);
}

const release = (v: string, deb = v.replace('-', '~')) => [entry('eb', deb, `eb-image-${v} (= ${deb}), systemd-container`), entry(`eb-image-${v}`, deb)];

describe('--keep', () => {
  const entries = [
    ...release('1.0.0'),
    ...release('1.10.0'),
    ...release('1.2.0'),
    ...release('2.0.0-rc.1'),
    entry('eb-archive-keyring', '3'),
    entry('other', '0.1'),
  ];

  it('keeps the newest N versions by dpkg order (1.10.0 after 1.2.0, rc before its release) and prunes host and image together', () => {
    const plan = planRetention(entries, 'eb', 2);
    expect(plan.kept).toEqual(['2.0.0~rc.1', '1.10.0']);
    expect(plan.pruned.map((p) => [p.version, p.entries.map((e) => e.package)])).toEqual([
      ['1.2.0', ['eb', 'eb-image-1.2.0']],
      ['1.0.0', ['eb', 'eb-image-1.0.0']],
    ]);
  });

  it('leaves packages that are not releases alone, and prunes nothing when N covers every version', () => {
    const all = planRetention(entries, 'eb', 1).pruned.flatMap((p) => p.entries.map((e) => e.package));
    expect(all).not.toContain('eb-archive-keyring');
    expect(all).not.toContain('other');
    expect(planRetention(entries, 'eb', 4).pruned).toEqual([]);
  });

  it('never prunes the newest: --keep 0 is refused', () => {
    expect(() => planRetention(entries, 'eb', 0)).toThrow(UsageError);
    expect(() => planRetention(entries, 'eb', 0)).toThrow(/keep at least the newest version/);
  });

  it('refuses to prune a version a kept package depends on exactly', () => {
    const pinned = [...entries, entry('eb-addon', '5.0', 'eb (= 1.0.0)')];
    expect(() => planRetention(pinned, 'eb', 2)).toThrow(/eb-addon 5\.0 depends on eb \(= 1\.0\.0\), which --keep 2 would prune/);
  });
});

describe('sizes and durations', () => {
  it('reads sizes as the recipe writes them, in binary units', () => {
    expect(parseSize('1G', '--max-size')).toBe(2 ** 30);
    expect(parseSize('512M', '--max-size')).toBe(512 * 2 ** 20);
    expect(parseSize('100000', '--max-size')).toBe(100000);
    expect(() => parseSize('1 GB', '--max-size')).toThrow(/--max-size: "1 GB" is not a size; write it as 512M, 1G/);
  });

  it('reads durations in seconds, minutes, hours and days, and refuses zero', () => {
    expect(parseDuration('21d', '--valid-for')).toBe(21 * 86400);
    expect(parseDuration('12h', '--valid-for')).toBe(43200);
    expect(parseDuration('90s', '--valid-for')).toBe(90);
    expect(() => parseDuration('0d', '--valid-for')).toThrow(/more than zero/);
    expect(() => parseDuration('3 weeks', '--valid-for')).toThrow(/--valid-for: "3 weeks" is not a duration/);
  });
});

describe('how long a key signs (gpg --with-colons)', () => {
  const fpr = 'A'.repeat(40);
  it("is the primary key's expiry when it signs itself", () => {
    const key = parseKeyListing(
      [
        'pub:u:255:22:AAAAAAAAAAAAAAAA:1700000000:1800000000::u:::scSC::::::23::0:',
        `fpr:::::::::${fpr}:`,
        'uid:u::::1700000000::X::repo <r@example.invalid>::::::::::0:',
      ].join('\n'),
    );
    expect(key).toEqual({ fingerprint: fpr, uid: 'repo <r@example.invalid>', created: 1700000000, expires: 1800000000 });
  });

  it("is the newest usable signing subkey's, when that ends before the primary key", () => {
    const key = parseKeyListing(
      [
        'pub:u:255:22:AAAAAAAAAAAAAAAA:1700000000:1900000000::u:::cSC::::::23::0:',
        `fpr:::::::::${fpr}:`,
        'sub:e:255:22:BBBBBBBBBBBBBBBB:1600000000:1650000000:::::s::::::23:',
        `fpr:::::::::${'B'.repeat(40)}:`,
        'sub:u:255:22:CCCCCCCCCCCCCCCC:1710000000:1750000000:::::s::::::23:',
        `fpr:::::::::${'C'.repeat(40)}:`,
      ].join('\n'),
    );
    expect(key.fingerprint).toBe(fpr);
    expect(key.expires).toBe(1750000000);
  });

  it('is never, for a key without expiry', () => {
    expect(parseKeyListing(`pub:u:255:22:AAAAAAAAAAAAAAAA:1700000000:::u:::scSC::::::23::0:\nfpr:::::::::${fpr}:`).expires).toBeUndefined();
  });
});
