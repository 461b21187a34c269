// The release artifacts the product e2e tests install: recipes/minimal.ts (so its security and
// updates suites) plus a build-time step that writes /etc/<name>-release, built with the real
// CLI (`build --fast`, the shared test cache, so the bootstrap is a cache hit) in three variants:
//   1.0.0 and 1.1.0  the release and its upgrade, told apart over SSH by /etc/<name>-release;
//   faults           1.0.0 with the limits the runtime-fault tests need: 16 connections at most, a
//                    20 s runtime, a 1G address space per process; and zstd .deb members.
// The recipes leave ssh.port alone: every host gets its own free port the admin way, a drop-in for
// the socket written before installing (see host.ts), so the same artifacts serve every host.
//
// Each variant is built once per test run, however many test files use it: in this process a
// promise per variant, across files (vitest runs each in its own worker) a directory per run under
// the test cache, named after the vitest process that owns the run (pid and start time). A
// detached watcher removes that directory when the run's process exits; directories of runs that
// are gone are pruned at the next run too.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../../helpers/cli.ts';
import { REPO, TEST_CACHE } from '../../helpers/paths.ts';

/** recipes/minimal.ts's name and user: the package, unit, path and login names on the hosts. */
export const NAME = 'ephemeral-builder';
export const USER = 'builder';
export const CTL = `${NAME}ctl`;
export const RELEASE_FILE = `/etc/${NAME}-release`;

export type Variant = '1.0.0' | '1.1.0' | 'faults';

interface VariantSpec {
  version: string;
  /** recipes/minimal.ts's limits are kept; these are laid over them. */
  limits: Record<string, string | number>;
  /** The recipe's compression.deb (default xz). */
  deb?: 'xz' | 'zstd';
}

export const VARIANTS: Record<Variant, VariantSpec> = {
  '1.0.0': { version: '1.0.0', limits: {} },
  '1.1.0': { version: '1.1.0', limits: {} },
  // zstd .deb members: quicker to pack, and apt on the test host installs them too.
  faults: { version: '1.0.0', limits: { maxConnections: 16, runtime: '20s', addressSpace: '1G' }, deb: 'zstd' },
};

export interface Artifacts {
  variant: Variant;
  version: string;
  /** The build's output directory: the .debs, the tarball, install.sh, SHA256SUMS, manifest.json. */
  dir: string;
  hostDeb: string;
  imageDeb: string;
  tarball: string;
  installSh: string;
  sha256sums: string;
  manifest: string;
  /** Wall time of the build (0 when another test file of this run built it). */
  buildSeconds: number;
}

const RUNS = path.join(TEST_CACHE, 'e2e-product-runs');

/** The vitest process that owns this run: the parent of a forked worker, else this process. */
function runOwner(): { pid: number; start: string } {
  const cmdline = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  };
  const pid = cmdline(process.ppid).includes('vitest') ? process.ppid : process.pid;
  return { pid, start: startTime(pid) };
}

/** Field 22 of /proc/PID/stat: the start time, which tells a reused pid from the original. */
function startTime(pid: number): string {
  try {
    return (
      fs
        .readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /s, '')
        .split(' ')[19] ?? ''
    );
  } catch {
    return '';
  }
}

let cachedRunDir: string | undefined;

function runDir(): string {
  if (cachedRunDir) return cachedRunDir;
  const owner = runOwner();
  const dir = path.join(RUNS, `${owner.pid}-${owner.start}`);
  fs.mkdirSync(RUNS, { recursive: true });
  for (const old of fs.readdirSync(RUNS)) {
    const [pid, start] = old.split('-');
    if (old !== path.basename(dir) && startTime(Number(pid)) !== start) fs.rmSync(path.join(RUNS, old), { recursive: true, force: true });
  }
  let fresh = false;
  try {
    fs.mkdirSync(dir);
    fresh = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (fresh) {
    // Removes the run's builds once the run is over; it only waits, so it needs no stopping.
    const script = 'while [ "$(sed "s/^.*) //" /proc/$1/stat 2>/dev/null | cut -d" " -f20)" = "$2" ]; do sleep 5; done; rm -rf "$3"';
    spawn('sh', ['-c', script, 'reaper', String(owner.pid), owner.start, dir], { detached: true, stdio: 'ignore' }).unref();
  }
  cachedRunDir = dir;
  return dir;
}

/**
 * A recipe module: recipes/minimal.ts with the variant's limits, and a step that marks the image
 * with its version, so a test can tell over SSH which image a connection was given.
 */
function recipeSource(spec: VariantSpec): string {
  const marker = { name: 'release-marker', script: `printf '%s\\n' ${spec.version} > ${RELEASE_FILE}` };
  return `// Written by test/e2e/product/artifacts.ts for one test run.
import minimal from ${JSON.stringify(path.join(REPO, 'recipes/minimal.ts'))};

export default {
  ...minimal,
  version: ${JSON.stringify(spec.version)},
  steps: [${JSON.stringify(marker)}],
  limits: { ...minimal.limits, ...${JSON.stringify(spec.limits)} },${spec.deb ? `\n  compression: { deb: ${JSON.stringify(spec.deb)} },` : ''}
};
`;
}

const ROLES = ['hostDeb', 'imageDeb', 'tarball', 'installSh', 'sbom', 'sha256sums', 'manifest'] as const;

async function lock(file: string): Promise<() => void> {
  for (let i = 0; ; i++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(fs.readFileSync(file, 'utf8') || 0);
    if (!owner || !startTime(owner)) fs.rmSync(file, { force: true });
    else if (i > 20 * 60) throw new Error(`${file}: held by pid ${owner} for 20 minutes`);
    else await new Promise((r) => setTimeout(r, 1000));
  }
}

async function buildVariant(variant: Variant): Promise<Artifacts> {
  const spec = VARIANTS[variant];
  const base = path.join(runDir(), variant);
  const done = path.join(base, 'artifacts.json');
  fs.mkdirSync(base, { recursive: true });
  const unlock = await lock(`${base}.lock`);
  try {
    if (fs.existsSync(done)) return { ...(JSON.parse(fs.readFileSync(done, 'utf8')) as Artifacts), buildSeconds: 0 };
    const recipe = path.join(base, 'recipe.ts');
    fs.writeFileSync(recipe, recipeSource(spec));
    const out = path.join(base, 'out');
    const t0 = performance.now();
    const res = await runCli(['build', recipe, '--out', out, '--version', spec.version, '--fast', '--cache-dir', TEST_CACHE]);
    fs.writeFileSync(path.join(base, 'build.log'), `${res.stdout}\n--- stderr\n${res.stderr}`);
    if (res.exitCode !== 0) throw new Error(`build of ${variant} failed (exit ${res.exitCode}):\n${res.stderr.split('\n').slice(-40).join('\n')}`);
    const found: Partial<Record<(typeof ROLES)[number], string>> = {};
    for (const role of ROLES) {
      const file = new RegExp(`^${role}: (.+)$`, 'm').exec(res.stdout)?.[1];
      if (!file || !fs.existsSync(file)) throw new Error(`build of ${variant}: no ${role} in its output:\n${res.stdout}`);
      found[role] = file;
    }
    const artifacts: Artifacts = {
      variant,
      version: spec.version,
      dir: out,
      buildSeconds: Math.round((performance.now() - t0) / 100) / 10,
      ...(found as Record<(typeof ROLES)[number], string>),
    };
    fs.writeFileSync(done, JSON.stringify(artifacts));
    return artifacts;
  } finally {
    unlock();
  }
}

const memo = new Map<Variant, Promise<Artifacts>>();

/** The variant's artifacts, built on first use in this test run. */
export function artifacts(variant: Variant): Promise<Artifacts> {
  let p = memo.get(variant);
  if (!p) {
    p = buildVariant(variant);
    memo.set(variant, p);
  }
  return p;
}
