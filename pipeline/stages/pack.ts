// Stage pack: turns the verified tree into the release artifacts in OUT: the image .deb, the host
// .deb, the .tar.zst, install.sh, the CycloneDX SBOM, manifest.json and SHA256SUMS. They appear in
// OUT together, only when all are complete (pack/staging.ts).
// CONTRACT (owned by the pack work): input PackInput, output Artifacts.
// Reads: name, version, architecture, maintainer, description, suite, compression, user,
// sourceDateEpoch, digest, mirror, mirrorState; and through renderHostFiles: ssh, limits, binds.
import fs from 'node:fs';
import path from 'node:path';
import { RecipeError } from '../errors.ts';
import { requireTools } from '../build-machine.ts';
import { renderHostFiles, HOST_DIR, type HostPackageFiles } from '../host-package/render.ts';
import type { CompressionSpec } from '../pack/compress.ts';
import { artifactNames } from '../pack/debian-version.ts';
import { buildDeb } from '../pack/deb-writer.ts';
import { packLayout } from '../pack/layout.ts';
import { artifactRecord, manifestJson, sha256sums, type ArtifactRecord } from '../pack/manifest.ts';
import { OutputStaging } from '../pack/staging.ts';
import { packTarball } from '../pack/tarball.ts';
import { assertNoXattrs, requireGetfattr } from '../pack/xattrs.ts';
import type { ResolvedRecipe } from '../recipe/resolve.ts';
import { IMAGE_INFO_PATH, SBOM_PATH } from '../image-contract.ts';
import { imageInfo, imageSbom } from '../sbom/image-sbom.ts';
import type { Stage, StageContext, VerifiedTree } from '../stage.ts';
import type { Plan } from '../ui/reporter.ts';
import { treeDigestSync } from '../util/tree-digest.ts';

export interface PackInput {
  tree: VerifiedTree;
  outDir: string;
  /** --fast: low compression levels for development builds. */
  fast: boolean;
  /** The plan, whose stage keys go into manifest.json. */
  plan: Plan;
  /** The rendered host files; by default renderHostFiles(recipe). Tests pass a fixture. */
  hostFiles?: HostPackageFiles;
}

export interface Artifacts {
  /** Absolute paths of every file written to OUT, by role. */
  imageDeb: string;
  hostDeb: string;
  tarball: string;
  installSh: string;
  /** The image's CycloneDX SBOM (also inside the image, at SBOM_PATH). */
  sbom: string;
  sha256sums: string;
  manifest: string;
  /** The Debian version of both packages (1.4.0-rc.1 → 1.4.0~rc.1). */
  debianVersion: string;
}

/** zstd level of the tarball with --fast: fast to write, still a fraction of the tree's size. */
export const FAST_TARBALL_LEVEL = 3;
const FAST_DEB_LEVEL = { xz: 1, zstd: 3 } as const;
/** Long-distance matching for the tarball (see the numbers in pipeline/pack/tarball.ts). */
export const TARBALL_LONG = true;

const PIPELINE_HOST_DIR = path.resolve(import.meta.dirname, '../host');

export function debCompression(r: Pick<ResolvedRecipe, 'compression'>, fast: boolean): CompressionSpec {
  const tool = r.compression.deb;
  return { tool, level: fast ? FAST_DEB_LEVEL[tool] : r.compression.debLevel };
}

export function tarballLevel(r: Pick<ResolvedRecipe, 'compression'>, fast: boolean): number {
  return fast ? FAST_TARBALL_LEVEL : r.compression.tarballLevel;
}

function digestIfPresent(dir: string): string | null {
  return fs.existsSync(dir) ? treeDigestSync(dir) : null;
}

/** Reports "what: 120 of 280 MB" at most twice a second. */
function progressReporter(ctx: StageContext, what: string, totalBytes: number): (bytes: number) => void {
  let last = 0;
  const mb = (n: number) => Math.round(n / 1e6);
  return (bytes) => {
    const now = Date.now();
    if (now - last < 500) return;
    last = now;
    ctx.progress(totalBytes > 0 ? `${what}: ${mb(bytes)} of ${mb(totalBytes)} MB` : `${what}: ${mb(bytes)} MB`);
  };
}

export const packStage: Stage<PackInput, Artifacts> = {
  name: 'pack',
  version: 1,
  title: 'Pack the tarball and .deb packages',

  verify(r) {
    requireTools(['xz', 'zstd']);
    requireGetfattr();
    artifactNames(r.name, r.version, r.architecture);
    const problems: string[] = [];
    if (r.compression.deb === 'xz' && r.compression.debLevel > 9) problems.push(`compression.debLevel: ${r.compression.debLevel} is not an xz level (0-9)`);
    if (r.compression.deb === 'zstd' && r.compression.debLevel < 1) problems.push(`compression.debLevel: ${r.compression.debLevel} is not a zstd level (1-22)`);
    if (r.description.length > 80 || r.description.includes('\n'))
      problems.push(`description: the package synopsis must be one line of at most 80 characters (it has ${r.description.length})`);
    if (problems.length) throw new RecipeError(problems);
  },

  cacheKey(r) {
    return {
      name: r.name,
      version: r.version,
      debianVersion: artifactNames(r.name, r.version, r.architecture).debianVersion,
      architecture: r.architecture,
      maintainer: r.maintainer,
      description: r.description,
      suite: r.suite,
      user: r.user,
      ssh: r.ssh,
      limits: r.limits,
      binds: r.binds,
      compression: r.compression,
      sourceDateEpoch: r.sourceDateEpoch,
      // The host files and their renderer shape the host package, install.sh and the tarball.
      hostSources: digestIfPresent(HOST_DIR),
      hostRenderer: digestIfPresent(PIPELINE_HOST_DIR),
    };
  },

  async run(input, ctx) {
    const r = ctx.recipe;
    const { tree, outDir, fast } = input;
    const hostFiles = input.hostFiles ?? renderHostFiles(r);

    ctx.progress('checking the tree for extended attributes');
    await assertNoXattrs(tree.rootfs, ctx.signal);
    ctx.progress('SBOM');
    const sbom = imageSbom(tree, r);
    ctx.progress('scanning the tree');
    const layout = await packLayout(r, tree.rootfs, hostFiles, [
      { path: SBOM_PATH, content: sbom },
      { path: IMAGE_INFO_PATH, content: imageInfo(tree, r) },
    ]);
    const { names } = layout;
    const debSpec = debCompression(r, fast);
    ctx.log(
      `image ${names.imageDeb}: ${layout.image.data.length} entries; .deb members ${debSpec.tool} -${debSpec.level}; tarball zstd -${tarballLevel(r, fast)}`,
    );

    const staging = new OutputStaging(outDir);
    try {
      const temps = {
        imageDeb: staging.temp(names.imageDeb),
        hostDeb: staging.temp(names.hostDeb),
        tarball: staging.temp(names.tarball),
        installSh: staging.temp('install.sh'),
        sbom: staging.temp(names.sbom),
        manifest: staging.temp('manifest.json'),
        sha256sums: staging.temp('SHA256SUMS'),
      };
      const common = { compression: debSpec, sourceDateEpoch: r.sourceDateEpoch, signal: ctx.signal };
      await buildDeb({ ...common, outFile: temps.imageDeb, ...layout.image, onBytes: progressReporter(ctx, 'image .deb', tree.sizeBytes) });
      ctx.progress('host .deb');
      await buildDeb({ ...common, outFile: temps.hostDeb, ...layout.host });
      await packTarball(layout.tarball, temps.tarball, {
        // --fast goes without the 128 MiB window: development builds want speed, not the last 8 %.
        level: tarballLevel(r, fast),
        long: TARBALL_LONG && !fast,
        signal: ctx.signal,
        onBytes: progressReporter(ctx, 'tarball', tree.sizeBytes),
      });
      fs.writeFileSync(temps.installSh, hostFiles.installSh, { mode: 0o755 });
      fs.chmodSync(temps.installSh, 0o755);
      fs.writeFileSync(temps.sbom, sbom);

      ctx.progress('checksums and manifest');
      const records: ArtifactRecord[] = [];
      for (const role of ['imageDeb', 'hostDeb', 'tarball', 'installSh', 'sbom'] as const) {
        const name = role === 'installSh' ? 'install.sh' : names[role];
        records.push(artifactRecord(name, temps[role]));
      }
      fs.writeFileSync(
        temps.manifest,
        manifestJson({
          recipe: r,
          debianVersion: names.debianVersion,
          packages: { image: names.imagePackage, host: names.hostPackage },
          tree,
          plan: input.plan,
          artifacts: records,
        }),
      );
      records.push(artifactRecord('manifest.json', temps.manifest));
      fs.writeFileSync(temps.sha256sums, sha256sums(records));

      staging.commit();
      const at = (name: string) => path.join(outDir, name);
      return {
        imageDeb: at(names.imageDeb),
        hostDeb: at(names.hostDeb),
        tarball: at(names.tarball),
        installSh: at('install.sh'),
        sbom: at(names.sbom),
        manifest: at('manifest.json'),
        sha256sums: at('SHA256SUMS'),
        debianVersion: names.debianVersion,
      };
    } catch (err) {
      staging.abort();
      throw err;
    }
  },
};
