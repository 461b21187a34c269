// The image's software bill of materials as CycloneDX 1.6 JSON, built with the CycloneDX project's
// own library: one component per installed Debian package (name, version, architecture, source
// package, purl `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-13`, SPDX licences or
// NOASSERTION). Byte-identical for the same image: lists sorted, the time is SOURCE_DATE_EPOCH,
// and the serial number and every bom-ref are derived from the content, never random.
import { createHash } from 'node:crypto';
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import type { InstalledPackage } from '../stage.ts';
import { BUILDER_VERSION } from '../package-root.ts';
import type { PackageLicences } from './copyright-licenses.ts';

export const SBOM_SPEC = '1.6';

export interface SbomInput {
  /** The image: the recipe's name and version, its architecture and tree digest. */
  name: string;
  version: string;
  architecture: string;
  treeDigest: string;
  sourceDateEpoch: number;
  /** purl's distro qualifier: debian-13 (or the codename of a release without a number). */
  distro: string;
  packages: (InstalledPackage & { licences: PackageLicences })[];
}

/** A UUID (version 8, "custom") made of the digest's first 128 bits, so the same image keeps its serial number. */
function serialNumber(digest: string): string {
  const hex = createHash('sha256').update(`ephemeral-builder sbom ${digest}`).digest('hex').slice(0, 32).split('');
  hex[12] = '8';
  hex[16] = ((parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function debianPurl(p: Pick<InstalledPackage, 'name' | 'version' | 'architecture'>, distro: string): string {
  return new PackageURL('deb', 'debian', p.name, p.version, { arch: p.architecture, distro }).toString();
}

export function renderSbom(input: SbomInput): string {
  const bom = new Models.Bom();
  bom.serialNumber = serialNumber(input.treeDigest);
  bom.metadata.timestamp = new Date(input.sourceDateEpoch * 1000);
  bom.metadata.tools.tools.add(new Models.Tool({ vendor: 'ephemeral-builder', name: 'ephemeral-builder', version: BUILDER_VERSION }));
  bom.metadata.component = new Models.Component(Enums.ComponentType.Container, `${input.name}-image`, {
    version: input.version,
    bomRef: `image:${input.name}@${input.version}`,
    description: `Root file system image ${input.version} of ${input.name} (${input.architecture}), tree digest sha256:${input.treeDigest}`,
    hashes: new Models.HashDictionary([[Enums.HashAlgorithm['SHA-256'], input.treeDigest]]),
  });
  for (const p of input.packages) {
    const purl = debianPurl(p, input.distro);
    const component = new Models.Component(Enums.ComponentType.Library, p.name, {
      version: p.version,
      bomRef: purl,
      purl,
      properties: new Models.PropertyRepository([
        new Models.Property('debian:architecture', p.architecture),
        new Models.Property('debian:source', p.source),
        new Models.Property('debian:source_version', p.sourceVersion),
      ]),
    });
    if ('spdx' in p.licences) {
      const { spdx } = p.licences;
      // CycloneDX allows a list of licence ids, or one expression alone: the package's files are
      // under all of its licences, so several that include an expression become one AND.
      if (spdx.every((l) => !/\s/.test(l))) for (const id of spdx) component.licenses.add(new Models.SpdxLicense(id));
      else component.licenses.add(new Models.LicenseExpression(spdx.map((l) => (/\s/.test(l) && spdx.length > 1 ? `(${l})` : l)).join(' AND ')));
    } else {
      component.licenses.add(new Models.NamedLicense('NOASSERTION'));
    }
    bom.components.add(component);
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return `${serializer.serialize(bom, { sortLists: true, space: 2 })}\n`;
}
