// Renders the files in host/ (units, spawn helper, host tool, config, maintainer scripts,
// install.sh, lintian overrides) for one recipe: placeholders such as @NAME@ are replaced with
// recipe values, and each "#@include FILE" line is replaced with host/lib/FILE, so that the .deb's
// maintainer scripts, install.sh and the host tool share one copy of the host logic.
// CONTRACT between the host-files work and the pack work; see the types below.
// Reads: name, version, description, ssh, network, limits, binds, user.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { RecipeError } from '../errors.ts';
import { CONTAINER_INIT, IMAGE_INFO_PATH, KEY_DIR } from '../image-contract.ts';
import { ASSET_ROOT } from '../package-root.ts';
import { renderImageLintianOverrides } from '../pack/lintian-image-overrides.ts';
import type { ResolvedRecipe } from '../recipe/resolve.ts';

export interface HostFile {
  /** Absolute path on the host, e.g. /usr/lib/systemd/system/ephemeral-builder.socket. */
  path: string;
  mode: number;
  content: string | Buffer;
  /** Listed in the host .deb's conffiles (files under /etc). */
  conffile?: boolean;
}

type MaintainerScripts = Partial<Record<'preinst' | 'postinst' | 'prerm' | 'postrm', string>>;

export interface HostPackageFiles {
  /** Files of the host package (<name>_<debver>_<arch>.deb) and of the tarball. */
  files: HostFile[];
  /** Maintainer scripts of the host package, by name. */
  maintainerScripts: MaintainerScripts;
  /** The host package's dpkg triggers file (deb-triggers(5)). */
  triggers: string;
  /** Maintainer scripts of the image package, if it needs any. */
  imageMaintainerScripts: MaintainerScripts;
  /** install.sh, shipped next to the tarball. */
  installSh: string;
  /** Contents of usr/share/lintian/overrides/<pkg> for the host and the image package. */
  lintianOverrides: { host?: string; image: string };
  /** Dependencies of the host package beyond the fixed ones (what the network mode needs). */
  depends?: string[];
}

/** The recipe fields the host files need; a ResolvedRecipe has them all. */
export type HostRecipe = Pick<ResolvedRecipe, 'name' | 'version' | 'description' | 'ssh' | 'network' | 'limits' | 'binds' | 'user'>;

export const HOST_DIR = path.join(ASSET_ROOT, 'host');

// Values that end up inside single-quoted shell words, unit lines and nspawn's colon-separated
// bind syntax: keep them to characters that mean nothing to any of the three.
const SHELL_SAFE_PATH = /^\/[A-Za-z0-9_./+@=,-]*$/;

/**
 * Connection slots of the socket per job the runner may run at once (its `limit`, the recipe's
 * limits.maxConnections): a finished job's container is still torn down, and counted by the
 * socket, when the runner starts the next one. Twice as many slots as jobs leaves one for each
 * runner slot's predecessor, as long as a job outlasts a teardown (measured in bench/ teardown).
 */
export const SLOTS_PER_JOB = 2;

/** "[::1]:24" or "127.0.0.1:24", as ListenStream= and `[host]:port` want it. */
export function listenStream(address: string, port: number): string {
  const bare = address.replace(/^\[|\]$/g, '');
  return bare.includes(':') ? `[${bare}]:${port}` : `${bare}:${port}`;
}

/** The config file's BINDS value: "[-]SOURCE[:TARGET]" words, "-" for optional sources. */
export function bindsValue(binds: HostRecipe['binds']): string {
  const problems: string[] = [];
  const words = binds.map((b, i) => {
    for (const [key, value] of [
      ['source', b.source],
      ['target', b.target],
    ] as const) {
      if (value !== undefined && !SHELL_SAFE_PATH.test(value)) {
        problems.push(
          `binds[${i}].${key}: "${value}" must be a path of letters, digits and _ . / + @ = , - only (no spaces, colons or quotes: it is passed to systemd-nspawn --bind-ro)`,
        );
      }
    }
    const target = b.target && b.target !== b.source ? `:${b.target}` : '';
    return `${b.optional ? '-' : ''}${b.source}${target}`;
  });
  if (problems.length) throw new RecipeError(problems);
  return words.join(' ');
}

/** Every placeholder of host/ and its value for this recipe. */
export function placeholders(recipe: HostRecipe): Record<string, string> {
  if (!SHELL_SAFE_PATH.test(recipe.user.shell)) {
    throw new RecipeError(`user.shell: "${recipe.user.shell}" must be a plain path (letters, digits and _ . / + @ = , -)`);
  }
  const values: Record<string, string> = {
    NAME: recipe.name,
    NAME_UPPER: recipe.name.toUpperCase(),
    VERSION: recipe.version,
    // A unit's Description= is one line, and % starts a specifier there.
    DESCRIPTION: recipe.description.replace(/\s+/g, ' ').trim().replaceAll('%', '%%'),
    USER: recipe.user.name,
    UID: String(recipe.user.uid),
    GID: String(recipe.user.gid),
    SHELL: recipe.user.shell,
    LISTEN_STREAM: listenStream(recipe.ssh.listenAddress, recipe.ssh.port),
    NETWORK: recipe.network,
    SLOTS_PER_JOB: String(SLOTS_PER_JOB),
    MAX_CONNECTIONS: String(recipe.limits.maxConnections * SLOTS_PER_JOB),
    MEMORY: recipe.limits.memory,
    TASKS: String(recipe.limits.tasks),
    CPU: recipe.limits.cpu,
    RUNTIME: recipe.limits.runtime,
    HOME_SIZE: recipe.limits.homeSize,
    ADDRESS_SPACE: recipe.limits.addressSpace,
    BINDS: bindsValue(recipe.binds),
    // The image contract: where every image has its first process, the mount point of the host's
    // keys, and what it says it is (the host tool reads its date).
    CONTAINER_INIT,
    KEY_DIR,
    IMAGE_INFO: IMAGE_INFO_PATH,
  };
  // The private network's nftables table carries a digest of its own rules as its comment, so
  // that private-network loads them again only when the table on the host is not this one.
  const rules = renderHostTemplate(NFT_RULES, { ...values, NFT_RULES_ID: '' });
  return { ...values, NFT_RULES_ID: `${recipe.name} private-network ${createHash('sha256').update(rules).digest('hex').slice(0, 16)}` };
}

/**
 * What each network mode needs on the host (private-network): ip and nft. A host-mode package
 * needs neither; an admin who switches its NETWORK to private is told to install them.
 */
const NETWORK_DEPENDS: Record<HostRecipe['network'], string[]> = { host: [], private: ['iproute2', 'nftables'] };

const NFT_RULES = 'share/private-network.nft';

const INCLUDE = /^#@include ([a-z0-9._-]+)$/gm;
const PLACEHOLDER = /@([A-Z][A-Z_]*)@/g;

/** Renders one file of host/ (path relative to host/). Throws on an unknown or leftover placeholder. */
export function renderHostTemplate(relPath: string, values: Record<string, string>, hostDir = HOST_DIR): string {
  const source = fs.readFileSync(path.join(hostDir, relPath), 'utf8');
  const included = source.replace(INCLUDE, (_line, file: string) => {
    const fragment = fs.readFileSync(path.join(hostDir, 'lib', file), 'utf8');
    return `# ---- host/lib/${file} ----\n${fragment.trimEnd()}\n# ---- end of host/lib/${file} ----`;
  });
  return included.replace(PLACEHOLDER, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`host/${relPath}: unknown placeholder ${whole}`);
    return value;
  });
}

/** The host package's lintian overrides, each with its reason. */
function hostLintianOverrides(name: string): string {
  return [
    '# The host tool reads the dpkg database of an installed image (outdated hands it to apt-get as',
    "# its Dir::State::status), never the host's own.",
    `uses-dpkg-database-directly [usr/sbin/${name}ctl]`,
    '',
  ].join('\n');
}

export function renderHostFiles(recipe: HostRecipe): HostPackageFiles {
  const values = placeholders(recipe);
  const render = (rel: string) => renderHostTemplate(rel, values);
  const { name } = recipe;
  return {
    files: [
      { path: `/usr/lib/systemd/system/${name}.socket`, mode: 0o644, content: render('units/NAME.socket') },
      { path: `/usr/lib/systemd/system/${name}@.service`, mode: 0o644, content: render('units/NAME@.service') },
      { path: `/usr/lib/${name}/spawn`, mode: 0o755, content: render('bin/spawn') },
      { path: `/usr/lib/${name}/syscall-filter`, mode: 0o755, content: render('bin/syscall-filter') },
      { path: `/usr/lib/${name}/private-network`, mode: 0o755, content: render('bin/private-network') },
      { path: `/usr/lib/${name}/private-network.nft`, mode: 0o644, content: render(NFT_RULES) },
      { path: `/usr/sbin/${name}ctl`, mode: 0o755, content: render('bin/ctl') },
      { path: `/etc/${name}/${name}.conf`, mode: 0o644, content: render('etc/NAME.conf'), conffile: true },
      // zlib's gzip header carries no name and no time, so the bytes depend on the text only.
      { path: `/usr/share/man/man8/${name}ctl.8.gz`, mode: 0o644, content: gzipSync(render('man/NAMEctl.8'), { level: 9 }) },
    ],
    maintainerScripts: {
      preinst: render('debian/preinst'),
      postinst: render('debian/postinst'),
      prerm: render('debian/prerm'),
      postrm: render('debian/postrm'),
    },
    triggers: render('debian/triggers'),
    imageMaintainerScripts: { preinst: render('debian/preinst'), prerm: render('debian/image-prerm'), postrm: render('debian/image-postrm') },
    installSh: render('install.sh'),
    // The image's tags come from shipping a foreign root file system; the pack work keeps the list.
    lintianOverrides: { host: hostLintianOverrides(name), image: renderImageLintianOverrides(recipe.name, recipe.version) },
    depends: NETWORK_DEPENDS[recipe.network],
  };
}
