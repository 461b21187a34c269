// `ephemeral-builder init [DIR]`: a repository of a team's own, with the builder as a pinned
// dependency: package.json, a recipe and an example overlay (templates/init), a setup.sh that
// installs what the build needs, and a .gitlab-ci.yml with this repository's own jobs, calling the
// CI scripts the package ships. Nothing is written when any of the files already exists.
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { BUILD_MACHINE_PACKAGES } from '../build-machine.ts';
import { ASSET_ROOT, BUILDER_VERSION } from '../package-root.ts';

interface Scaffold {
  file: string;
  content: string;
  mode: number;
}

const TEMPLATES = path.join(ASSET_ROOT, 'templates/init');
/** Where a scaffolded repository finds the builder's CI scripts. */
const PACKAGE_CI = 'node_modules/ephemeral-builder/dist/scripts/ci';

/** The builder's own package.json, for the versions of what a scaffold pins alongside it. */
function builderManifest(): { dependencies: Record<string, string>; devDependencies: Record<string, string> } {
  for (const dir of [ASSET_ROOT, path.dirname(ASSET_ROOT)]) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  }
  throw new Error(`no package.json above ${ASSET_ROOT}`);
}

function templates(name: string): Scaffold[] {
  const out: Scaffold[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const rel = path.relative(TEMPLATES, full);
        // Stored without the dot, so that nothing treats the template itself as an ignore file.
        const file = rel === 'gitignore' ? '.gitignore' : rel;
        const content = fs.readFileSync(full, 'utf8').replaceAll('@NAME@', name).replaceAll('@BUILDER_VERSION@', BUILDER_VERSION);
        out.push({ file, content, mode: fs.statSync(full).mode & 0o777 });
      }
    }
  };
  walk(TEMPLATES);
  return out;
}

function packageJson(name: string): string {
  const own = builderManifest();
  return `${JSON.stringify(
    {
      name,
      private: true,
      type: 'module',
      description: `GitLab Runner SSH build containers: the ${name} image`,
      scripts: {
        typecheck: 'tsc -p .',
        test: 'npm run typecheck && ephemeral-builder build recipe.ts --fast --stop-after verify --out out/test',
        build: 'ephemeral-builder build recipe.ts',
      },
      // Exact versions, as the builder pins its own: the builder, and Node.js 24 it runs on.
      dependencies: { 'ephemeral-builder': BUILDER_VERSION, node: own.dependencies.node },
      devDependencies: { typescript: own.devDependencies.typescript, '@types/node': own.devDependencies['@types/node'] },
    },
    null,
    2,
  )}\n`;
}

function setupSh(): string {
  return `#!/bin/sh
# Installs what building the image needs on a fresh Debian (12 or 13) machine, as root: the tools
# the builder runs (its list, from ephemeral-builder ${BUILDER_VERSION}) and the npm dependencies
# pinned by package-lock.json (Node.js 24 comes from the npm package node).
set -eu
cd "$(dirname "$0")"
if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (it installs Debian packages)" >&2
	exit 2
fi
PACKAGES="${BUILD_MACHINE_PACKAGES.join(' ')}"
command -v npm >/dev/null 2>&1 || PACKAGES="npm $PACKAGES"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $PACKAGES
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
`;
}

/** The builder's own pipeline, pointed at the package's CI scripts and at recipe.ts. */
function gitlabCi(): string {
  const own = fs.readFileSync(path.join(ASSET_ROOT, '.gitlab-ci.yml'), 'utf8');
  return own
    .replace(
      /^# Release pipeline of ephemeral-builder:/m,
      "# Release pipeline of this image repository (made by `ephemeral-builder init`, from the builder's own):",
    )
    .replaceAll('scripts/ci/', `${PACKAGE_CI}/`)
    .replace(/docs\/release-ci\.md/g, 'node_modules/ephemeral-builder/docs/release-ci.md')
    .replace(/^(\s*RECIPE:\s*)recipes\/default\.ts$/m, '$1recipe.ts')
    .replace(/recipes\/default\.ts/g, 'recipe.ts');
}

export function initCommand(dir: string, flags: { name?: string }): void {
  const target = path.resolve(dir);
  const name =
    flags.name ??
    path
      .basename(target)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^[^a-z]+|-+$/g, '');
  if (!/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/.test(name)) {
    throw new UsageError(`init: "${name}" cannot name an image (2-40 characters of a-z, 0-9 and "-", starting with a letter); pass --name`);
  }
  const files: Scaffold[] = [
    ...templates(name),
    { file: 'package.json', content: packageJson(name), mode: 0o644 },
    { file: 'setup.sh', content: setupSh(), mode: 0o755 },
    { file: '.gitlab-ci.yml', content: gitlabCi(), mode: 0o644 },
  ];
  const existing = files.filter((f) => fs.existsSync(path.join(target, f.file))).map((f) => f.file);
  if (existing.length) throw new UsageError(`init: ${target} already has ${existing.join(', ')}; nothing was written (init never overwrites)`);
  for (const f of files) {
    const file = path.join(target, f.file);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, f.content, { mode: f.mode, flag: 'wx' });
  }
  process.stdout.write(
    [
      `created ${name} in ${target}:`,
      ...files.map((f) => `  ${f.file}`),
      'next, as root on a Debian 12 or 13 machine:',
      `  cd ${target} && sh setup.sh && npx ephemeral-builder build recipe.ts`,
      '',
    ].join('\n'),
  );
}
