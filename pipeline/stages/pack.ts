// Stage pack: turns the verified tree into the release artifacts in OUT (see DESIGN.md "Artifacts").
// CONTRACT (owned by the pack work): input PackInput, output Artifacts. Every file appears in OUT
// only when complete (temporary name, then rename).
// Reads: name, version, architecture, maintainer, description, compression, ssh, limits, binds, user.
import type { Stage, VerifiedTree } from '../stage.ts';
import type { Plan } from '../ui/reporter.ts';

export interface PackInput {
  tree: VerifiedTree;
  outDir: string;
  /** --fast: low compression levels for development builds. */
  fast: boolean;
  /** The plan, whose stage keys go into manifest.json. */
  plan: Plan;
}

export interface Artifacts {
  /** Absolute paths of every file written to OUT, by role. */
  imageDeb: string;
  hostDeb: string;
  tarball: string;
  installSh: string;
  sha256sums: string;
  manifest: string;
}

export const packStage: Stage<PackInput, Artifacts> = {
  name: 'pack',
  version: 1,
  title: 'Pack the tarball and .deb packages',
  verify() {},
  cacheKey(r) {
    return { name: r.name, version: r.version, compression: r.compression };
  },
  async run() {
    throw new Error('pack is not implemented yet');
  },
};
