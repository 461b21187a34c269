// `outdated`: every package of an image that one of its sources now has in a newer version, and
// whether that version comes from a security suite. The sources' indexes are read now (each one
// checked against its InRelease's sha256), so the answer is "what a rebuild today would change".
// `rewrite` reads a source from elsewhere (a local mirror directory, a proxy) under its own name.
import { packagesIndexFor, fetchInRelease, readPackagesIndex } from '../mirror.ts';
import { compareDebianVersions } from '../publish/version-order.ts';
import { StageError, UsageError } from '../errors.ts';
import type { RetryOptions } from '../util/fetch-retry.ts';
import type { ImageRecord, SourceRef } from './image-record.ts';

export interface OutdatedPackage {
  name: string;
  architecture: string;
  installed: string;
  available: string;
  /** The suite the newer version is in, and its URI. */
  suite: string;
  uri: string;
  security: boolean;
}

export interface OutdatedReport {
  image: { name: string; version: string; from: string };
  sources: { uri: string; suite: string; inReleaseSha256: string }[];
  packages: OutdatedPackage[];
}

/** A security suite is named so by Debian (trixie-security) or served from a security archive. */
export function isSecuritySuite(s: SourceRef): boolean {
  return /-security$|\/updates$/.test(s.suite) || /debian-security/.test(s.uri);
}

export async function findOutdated(record: ImageRecord, rewrite: Map<string, string>, opts: RetryOptions = {}): Promise<OutdatedReport> {
  const newest = new Map<string, { version: string; source: SourceRef }>();
  const sources: OutdatedReport['sources'] = [];
  for (const source of record.sources) {
    const from = rewriteUri(source.uri, rewrite);
    const lookup = await fetchInRelease(from, source.suite, opts);
    if (!lookup.found)
      throw new StageError(
        'outdated',
        `${source.suite} at ${from}: HTTP ${lookup.status} for its InRelease`,
        "check the image's sources and the network (or --rewrite)",
      );
    sources.push({ uri: source.uri, suite: source.suite, inReleaseSha256: lookup.state.inReleaseSha256 });
    const arches = lookup.state.separateAllIndex ? [record.architecture, 'all'] : [record.architecture];
    const indexes = source.components
      .flatMap((component) => arches.map((arch) => ({ component, arch })))
      .filter(({ component, arch }) => packagesIndexFor(lookup.state, component, arch));
    if (!indexes.some((i) => i.arch === record.architecture)) {
      throw new StageError('outdated', `${source.suite} at ${from} lists no Packages index for ${record.architecture} in ${source.components.join(', ')}`);
    }
    for (const { component, arch } of indexes) {
      let name = '';
      await readPackagesIndex(
        from,
        lookup.state,
        component,
        arch,
        (line) => {
          if (line.startsWith('Package: ')) name = line.slice(9).trim();
          else if (line.startsWith('Version: ')) {
            const version = line.slice(9).trim();
            const seen = newest.get(name);
            const order = seen ? compareDebianVersions(version, seen.version) : 1;
            // The same version in the suite and its security suite (after a point release) is a security fix.
            if (order > 0 || (order === 0 && isSecuritySuite(source))) newest.set(name, { version, source });
          }
        },
        opts,
      );
    }
  }
  const packages: OutdatedPackage[] = [];
  for (const p of record.packages) {
    const best = newest.get(p.name);
    if (best && compareDebianVersions(best.version, p.version) > 0) {
      packages.push({
        name: p.name,
        architecture: p.architecture,
        installed: p.version,
        available: best.version,
        suite: best.source.suite,
        uri: best.source.uri,
        security: isSecuritySuite(best.source),
      });
    }
  }
  packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { image: { name: record.name, version: record.version, from: record.from }, sources, packages };
}

function rewriteUri(uri: string, rewrite: Map<string, string>): string {
  const bare = uri.replace(/\/$/, '');
  return rewrite.get(bare) ?? bare;
}

/** `--rewrite FROM=TO` options: read the source FROM at TO. */
export function parseRewrites(values: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1)
      throw new UsageError(`--rewrite ${JSON.stringify(v)}: expected FROM=TO, e.g. http://deb.debian.org/debian=http://mirror.local/debian`);
    map.set(v.slice(0, eq).replace(/\/$/, ''), v.slice(eq + 1).replace(/\/$/, ''));
  }
  return map;
}

export function renderOutdated(report: OutdatedReport): string {
  const lines: string[] = [];
  const { image } = report;
  if (!report.packages.length) {
    lines.push(`${image.name} ${image.version}: nothing behind (${report.sources.map((s) => s.suite).join(', ')})`);
    return `${lines.join('\n')}\n`;
  }
  const security = report.packages.filter((p) => p.security).length;
  lines.push(
    `${image.name} ${image.version}: ${report.packages.length} package${report.packages.length === 1 ? '' : 's'} behind, ${security} with a security fix`,
  );
  const rows = [
    ['package', 'installed', 'available', 'from', ''],
    ...report.packages.map((p) => [p.name, p.installed, p.available, p.suite, p.security ? 'SECURITY' : '']),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows)
    lines.push(
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  return `${lines.join('\n')}\n`;
}
