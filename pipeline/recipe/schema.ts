// The recipe schema: every field a recipe may set, its type, its default and its documentation.
// Reads: all recipe keys. The descriptions here are the source of the generated recipe reference,
// so say what a field does for the host admin, not how it is parsed.
import { isIP } from 'node:net';
import { z } from 'zod';
import { isValidSemver } from '../util/semver.ts';

/** Names become Debian package names, unit names and paths: keep to what all three accept. */
const safeName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/, 'must be 2-40 characters of a-z, 0-9 and "-", starting with a letter (it names packages, units and paths)');

/** systemd size syntax as used by MemoryMax= and tmpfs size=. */
const size = z.string().regex(/^[0-9]+[KMGT]?$/, 'must be a size such as 512M or 2G');

/** Checked by the semver package, as --version is: "1.0.0-01" (a leading zero) is not a version. */
const semverLike = z.string().refine(isValidSemver, 'must be a semantic version such as 1.4.0 or 1.4.0-rc.1');

/** node's own address parser: "::::" or "1.2.3" are not addresses. Brackets around IPv6 are allowed. */
const listenAddress = z.string().refine((s) => isIP(s.replace(/^\[(.*)\]$/, '$1')) !== 0, 'must be an IPv4 or IPv6 address such as 127.0.0.1 or ::1');

/** http(s) URLs only: apt's other methods (file:, cdrom:) would read the build machine. */
function httpUrl(message: string) {
  return z.url({ protocol: /^https?$/, error: message });
}

const absPath = z
  .string()
  .regex(/^\/[^\0]*$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

/** A path inside the image: absolute and without "..", so that it cannot name anything outside the image root. */
const imagePath = z
  .string()
  .regex(/^\/[^\0]*$/, 'must be an absolute path inside the image')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".." (it would leave the image)');

export const userSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,30}$/, 'must be a valid user name (lowercase, at most 31 characters)')
    .default('builder')
    .describe('The login user GitLab Runner connects as. Its home is a tmpfs copied from a template on every connection.'),
  uid: z.number().int().min(1000).max(59999).default(9000).describe('Numeric uid in the image (1000-59999, outside system and dynamic ranges).'),
  gid: z.number().int().min(1000).max(59999).default(9000).describe("Numeric gid of the user's primary group."),
  shell: absPath.default('/bin/bash').describe('Login shell. GitLab Runner runs every stage as `bash -l`, so keep bash.'),
});

export const sshSchema = z.strictObject({
  listenAddress: listenAddress.default('127.0.0.1').describe("Address the host's socket unit listens on. Loopback unless you mean to expose it."),
  port: z.number().int().min(1).max(65535).default(24).describe('TCP port of the socket unit.'),
});

export const limitsSchema = z.strictObject({
  homeSize: size.default('1G').describe('Size of the tmpfs home of each container; a job that writes more gets ENOSPC.'),
  memory: size.default('2G').describe("MemoryMax= of each connection's service (enforced on cgroup v2 hosts)."),
  tasks: z.number().int().min(16).max(1_000_000).default(1024).describe("TasksMax= of each connection's service, and the per-container RLIMIT_NPROC."),
  cpu: z
    .string()
    .regex(/^[1-9][0-9]*%$/, 'must be a percentage such as 200%')
    .default('200%')
    .describe("CPUQuota= of each connection's service (100% is one core)."),
  runtime: z
    .string()
    .regex(/^[0-9]+(s|min|h)$/, 'must be a duration such as 90min or 3h')
    .default('3h')
    .describe('RuntimeMaxSec= of each connection: a job running longer is stopped.'),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(4)
    .describe(
      "Jobs at once: the runner block's `limit`. The socket allows twice as many connections (MaxConnections=), so that the containers of finished jobs, still being torn down, never make it refuse the runner's next job.",
    ),
  addressSpace: size.default('4G').describe('Per-process address-space limit (RLIMIT_AS); holds where cgroup memory limits are not delegated.'),
});

export const bindSchema = z.strictObject({
  source: absPath.describe('Host path, bound read-only.'),
  target: absPath.optional().describe('Path inside the container; defaults to the source path.'),
  type: z.enum(['file', 'directory']).default('file').describe('What the source is: the image gets an empty file or directory as the mount point.'),
  optional: z.boolean().default(true).describe('Skip the bind on hosts where the source does not exist.'),
});

export const sourcesSchema = z.strictObject({
  updates: z
    .boolean()
    .default(true)
    .describe('Also install from `<codename>-updates` on the mirror: the stable updates Debian publishes between point releases.'),
  security: z
    .boolean()
    .default(true)
    .describe('Also install from `<codename>-security` on `sources.securityMirror`, so the image carries every security fix published on the day it is built.'),
  securityMirror: httpUrl('must be an http(s) URL of a Debian security archive')
    .default('http://deb.debian.org/debian-security')
    .describe("Mirror of Debian's security archive (its own archive, with its own layout)."),
});

/** A repository's name becomes file names in the image: /etc/apt/sources.list.d/NAME.sources, /etc/apt/keyrings/NAME.gpg. */
export const repositorySchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'must be a short name of a-z, 0-9, "." and "-" (it names the .sources and keyring files)')
    .describe('Names the repository in messages and its files in the image: `/etc/apt/sources.list.d/NAME.sources` and `/etc/apt/keyrings/NAME.gpg`.'),
  uri: httpUrl('must be an http(s) URL of an apt repository').describe("The repository's URL, the directory that holds `dists/`."),
  suites: z
    .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'must be a suite name such as stable or trixie'))
    .min(1)
    .describe('Suites to use, each read from `URI/dists/SUITE/InRelease`.'),
  components: z
    .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a component name such as main'))
    .min(1)
    .default(['main'])
    .describe('Components of each suite.'),
  key: z
    .string()
    .min(1)
    .describe(
      "File with the repository's signing key, ASCII-armored or binary, relative to the recipe. It is checked against every InRelease, and installed as `/etc/apt/keyrings/NAME.gpg` with `Signed-By`.",
    ),
  fingerprint: z
    .string()
    .refine((s) => /^[0-9A-F]{40}$/i.test(s.replace(/\s+/g, '')), 'must be a 40-digit hexadecimal OpenPGP fingerprint')
    .optional()
    .describe('Fingerprint of the signing key (spaces allowed). When set, the key file must hold this key, and only this key is trusted.'),
});

export const stepFileSchema = z.strictObject({
  from: z.string().min(1).describe('File on the build machine, relative to the recipe.'),
  to: imagePath.describe('Where it goes in the image.'),
  mode: z
    .number()
    .int()
    .min(0)
    .max(0o7777)
    .default(0o644)
    .describe('Its mode, owner root: write it in octal, 0o644 (the default, 420) or 0o755 for a program.'),
});

export const stepSchema = z.strictObject({
  name: z
    .string({ error: (i) => (i.input === undefined ? 'every step needs a name' : undefined) })
    .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be a short name of a-z, 0-9, ".", "_" and "-"')
    .describe('Names the step in progress lines, logs and errors.'),
  run: z.array(z.string()).optional().describe('The command as an argument vector, run without a shell: `["update-ca-certificates"]`. Give `run` or `script`.'),
  script: z.string().optional().describe('A shell script, run by `/bin/sh -e`. Give `run` or `script`.'),
  network: z
    .boolean()
    .default(false)
    .describe("Give the step the build machine's network. Without it the step has loopback only, so it cannot fetch what the cache key does not record."),
  files: z.array(stepFileSchema).default([]).describe("Files copied into the image before the step runs (a company CA certificate, a tool's tarball)."),
});

export const compressionSchema = z.strictObject({
  tarballLevel: z.number().int().min(1).max(22).default(19).describe('zstd level of the .tar.zst (`--fast` overrides it for development).'),
  deb: z.enum(['xz', 'zstd']).default('xz').describe('Compressor of .deb members. xz is read by every dpkg; zstd needs dpkg >= 1.21.18.'),
  debLevel: z.number().int().min(0).max(22).default(6).describe('Level of the .deb compressor.'),
});

/** The Debian architectures a recipe can name (`architecture`, `build --architecture`). */
export const ARCHITECTURES = ['amd64', 'arm64', 'armhf', 'i386', 'ppc64el', 's390x', 'riscv64'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export const recipeSchema = z.strictObject({
  name: safeName.default('ephemeral-builder').describe('Names the packages, units and paths on hosts.'),
  version: semverLike.default('0.0.0').describe('Image version (semver). `build --version` overrides it.'),
  description: z.string().max(200).default('Throw-away GitLab Runner SSH build containers').describe('One-line package description.'),
  maintainer: z
    .string()
    .regex(/^[^<>]+ <[^<>@\s]+@[^<>\s]+>$/, 'must look like "Name <email@example.org>"')
    .default('ephemeral-builder maintainers <maintainers@ephemeral-builder.invalid>')
    .describe('Maintainer field of the packages.'),
  suite: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, 'must be a Debian suite or codename such as trixie')
    .default('trixie')
    .describe('Debian suite to bootstrap.'),
  architecture: z
    .enum(ARCHITECTURES)
    .default('amd64')
    .describe(
      'Debian architecture of the image and packages. amd64 and arm64 are built and run end to end in the tests (arm64 under qemu on an amd64 machine); the others build where the machine can run their programs (qemu-user-static), untested.',
    ),
  mirror: httpUrl('must be an http(s) URL of a Debian mirror').default('http://deb.debian.org/debian').describe('Debian mirror to bootstrap from.'),
  components: z
    .array(z.enum(['main', 'contrib', 'non-free', 'non-free-firmware']))
    .min(1)
    .default(['main'])
    .describe('Archive components.'),
  variant: z.enum(['minbase', 'buildd']).default('minbase').describe('Bootstrap variant: minbase is Essential plus apt.'),
  bootstrapper: z.enum(['mmdebstrap', 'debootstrap']).default('mmdebstrap').describe('mmdebstrap is faster; debootstrap is what the tutorial used.'),
  sources: sourcesSchema.prefault({}).describe('The Debian suites besides `suite`: updates and security are on, so that images are patched.'),
  repositories: z
    .array(repositorySchema)
    .default([])
    .describe("Extra apt repositories (a vendor's, your company's), each with its signing key. Their packages can be named in `packages`."),
  packages: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'must be a Debian package name'))
    .default([])
    .describe('Packages installed on top of the variant, checked against the index of every source.'),
  steps: z
    .array(stepSchema)
    .default([])
    .describe(
      'Commands run as root inside the image after its packages are installed and before the overlays, in order (`update-ca-certificates`, `locale-gen`, a tool without a package).',
    ),
  sourceDateEpoch: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("Timestamp for reproducible builds. Defaults to the mirror's Release date, never the current time."),
  user: userSchema.prefault({}).describe('The builder user.'),
  overlays: z
    .array(z.string().min(1))
    .default(['builder-user', 'dotfiles', 'template-home', 'sshd', 'container-init', 'hygiene'])
    .describe('Overlays applied in order: names under overlays/ or paths relative to the recipe. hygiene must come last.'),
  ssh: sshSchema.prefault({}).describe('Where hosts listen for GitLab Runner.'),
  network: z
    .enum(['host', 'private'])
    .default('host')
    .describe(
      "The containers' network. `host`: they share the host's network namespace, as the tutorial does, and need nothing of the host; a job reaches whatever the host reaches, its loopback services included, and a port it listens on is one of the host's. `private`: each container gets a network namespace of its own, with a veth to the host and outbound IPv4 through the host's NAT (nftables); a job reaches neither the host's own addresses nor another container, and nothing outside reaches its ports. `private` needs IPv4 forwarding, nftables and iproute2 on the host (host admin guide, \"Private network\"). Hosts change it with `NETWORK=` in their settings.",
    ),
  limits: limitsSchema.prefault({}).describe('Resource limits, always set.'),
  binds: z
    .array(bindSchema)
    .default([])
    .describe("Host paths bound read-only into every container, e.g. the host's gitlab-runner binary so artifacts and cache uploads work."),
  compression: compressionSchema.prefault({}).describe('Artifact compression.'),
});

/** A recipe as written: every field optional where the schema has a default. */
export type RecipeInput = z.input<typeof recipeSchema>;
/** A recipe after defaults: every field present. */
export type Recipe = z.output<typeof recipeSchema>;
