// What `outdated` and `diff` know of an image, read from whichever form the user has at hand: a
// manifest.json (a file, or a release's URL), an image .deb, or an installed image directory on a
// host (/usr/lib/<name>/images/<version>, /var/lib/<name>/current). Manifests of format 1 (before
// the image recorded its sources) get the sources every image is built from now: the suite, its
// updates and its security suite.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { UsageError } from '../errors.ts';
import { fetchInRelease } from '../mirror.ts';
import { ImageRoot } from '../overlay/image-root.ts';
import { field, parseParagraphs } from '../publish/deb822.ts';
import { installedPackages } from '../sbom/dpkg-status.ts';
import { fetchWithRetry, type RetryOptions } from '../util/fetch-retry.ts';

export interface SourceRef {
  uri: string;
  suite: string;
  components: string[];
}

export interface ImageRecord {
  /** Where it was read from, for messages. */
  from: string;
  name: string;
  version: string;
  architecture: string;
  /** The recipe's digest (manifests only). */
  recipeDigest?: string;
  sourceDateEpoch?: number;
  sizeBytes?: number;
  fileCount?: number;
  packages: { name: string; version: string; architecture: string }[];
  sources: SourceRef[];
}

interface ManifestShape {
  format?: number;
  name?: string;
  version?: string;
  architecture?: string;
  suite?: string;
  sourceDateEpoch?: number;
  recipe?: { digest?: string };
  mirror?: { url?: string; suite?: string };
  sources?: { uri: string; suite: string; components: string[] }[];
  image?: { sizeBytes?: number; fileCount?: number; packages?: { name: string; version: string; architecture: string }[] };
}

export const DEFAULT_SECURITY_MIRROR = 'http://deb.debian.org/debian-security';

/** An image record from a manifest path or URL, an image .deb, or an image directory. */
export async function loadImageRecord(spec: string, opts: RetryOptions = {}): Promise<ImageRecord> {
  if (/^https?:\/\//.test(spec)) {
    const url = spec.endsWith('.json') ? spec : `${spec.replace(/\/$/, '')}/manifest.json`;
    const res = await fetchWithRetry(url, opts);
    if (!res.ok) throw new UsageError(`${url}: HTTP ${res.status}; give the URL of a release's manifest.json`);
    return fromManifest(await res.text(), url, opts);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !fs.existsSync(spec)) throw new UsageError(`${spec}: not a file, a directory or an http(s) URL`);
  if (!fs.existsSync(spec)) throw new UsageError(`${spec}: no such file or directory`);
  if (fs.statSync(spec).isDirectory()) return fromImageDir(spec, spec);
  if (spec.endsWith('.deb')) return fromImageDeb(spec);
  return fromManifest(fs.readFileSync(spec, 'utf8'), spec, opts);
}

async function fromManifest(text: string, from: string, opts: RetryOptions): Promise<ImageRecord> {
  let m: ManifestShape;
  try {
    m = JSON.parse(text) as ManifestShape;
  } catch {
    throw new UsageError(`${from}: not JSON; give an ephemeral-builder manifest.json`);
  }
  if (!m || typeof m !== 'object' || !m.name || !m.version || !Array.isArray(m.image?.packages) || (m.format !== 1 && m.format !== 2)) {
    throw new UsageError(`${from}: not an ephemeral-builder manifest (format 1 or 2 with name, version and image.packages)`);
  }
  const record = {
    from,
    name: m.name,
    version: m.version,
    architecture: m.architecture ?? 'amd64',
    recipeDigest: m.recipe?.digest,
    sourceDateEpoch: m.sourceDateEpoch,
    sizeBytes: m.image?.sizeBytes,
    fileCount: m.image?.fileCount,
    packages: m.image?.packages ?? [],
  };
  if (m.format === 2 && Array.isArray(m.sources))
    return { ...record, sources: m.sources.map((s) => ({ uri: s.uri, suite: s.suite, components: s.components })) };
  // Format 1 recorded the suite on one mirror; the sources an image has now are derived from it.
  const mirror = m.mirror?.url ?? 'http://deb.debian.org/debian';
  const suite = m.mirror?.suite ?? m.suite ?? 'trixie';
  const lookup = await fetchInRelease(mirror, suite, opts);
  const codename = (lookup.found && lookup.state.codename) || suite;
  return {
    ...record,
    sources: [
      { uri: mirror, suite, components: ['main'] },
      { uri: mirror, suite: `${codename}-updates`, components: ['main'] },
      { uri: DEFAULT_SECURITY_MIRROR, suite: `${codename}-security`, components: ['main'] },
    ],
  };
}

/** An installed image: its dpkg database and its own deb822 apt sources. */
function fromImageDir(dir: string, from: string): ImageRecord {
  const image = new ImageRoot(path.resolve(dir));
  if (!image.exists('/var/lib/dpkg/status')) throw new UsageError(`${dir}: no /var/lib/dpkg/status; give an image directory such as /var/lib/<name>/current`);
  const packages = installedPackages(image).map((p) => ({ name: p.name, version: p.version, architecture: p.architecture }));
  const sources: SourceRef[] = [];
  for (const file of image
    .list('/etc/apt/sources.list.d')
    .filter((f) => f.endsWith('.sources'))
    .sort()) {
    let paragraphs: ReturnType<typeof parseParagraphs>;
    try {
      paragraphs = parseParagraphs(image.readText(`/etc/apt/sources.list.d/${file}`));
    } catch (err) {
      throw new UsageError(`${dir}/etc/apt/sources.list.d/${file}: not a deb822 file (${(err as Error).message})`);
    }
    for (const p of paragraphs) {
      if (!(field(p, 'Types') ?? '').split(/\s+/).includes('deb')) continue;
      for (const uri of (field(p, 'URIs') ?? '').split(/\s+/).filter(Boolean)) {
        for (const suite of (field(p, 'Suites') ?? '').split(/\s+/).filter(Boolean)) {
          sources.push({ uri, suite, components: (field(p, 'Components') ?? 'main').split(/\s+/).filter(Boolean) });
        }
      }
    }
  }
  if (!sources.length)
    throw new UsageError(`${dir}: the image has no deb822 sources in /etc/apt/sources.list.d (built before images recorded them); use its manifest.json`);
  const arch = packages.find((p) => p.architecture !== 'all')?.architecture ?? 'amd64';
  const name = (image.readTextIfExists('/etc/hostname') ?? path.basename(path.dirname(path.resolve(dir)))).trim();
  return { from, name, version: path.basename(fs.realpathSync(dir)), architecture: arch, packages, sources };
}

/** An image .deb: the image directory inside it, unpacked to a scratch directory. */
async function fromImageDeb(file: string): Promise<ImageRecord> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-inspect-'));
  try {
    const r = await execa('dpkg-deb', ['-x', file, dir], { reject: false });
    if (r.exitCode !== 0) throw new UsageError(`${file}: dpkg-deb cannot read it (${r.stderr.trim().split('\n').pop()})`);
    const images = path.join(dir, 'usr/lib');
    const found = fs.existsSync(images)
      ? fs.readdirSync(images).flatMap((n) => {
          const d = path.join(images, n, 'images');
          return fs.existsSync(d) ? fs.readdirSync(d).map((v) => ({ name: n, version: v, dir: path.join(d, v) })) : [];
        })
      : [];
    if (found.length !== 1) throw new UsageError(`${file}: not an ephemeral-builder image package (no /usr/lib/<name>/images/<version>/ in it)`);
    const img = found[0]!;
    const listing = await execa('dpkg-deb', ['-c', file]);
    const prefix = `./usr/lib/${img.name}/images/${img.version}/`;
    let sizeBytes = 0;
    let fileCount = 0;
    for (const line of listing.stdout.split('\n')) {
      const cols = line.split(/\s+/);
      if (!cols[5]?.startsWith(prefix)) continue;
      fileCount++;
      if (line.startsWith('-')) sizeBytes += Number(cols[2] ?? 0);
    }
    return { ...fromImageDir(img.dir, file), name: img.name, version: img.version, sizeBytes, fileCount };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
