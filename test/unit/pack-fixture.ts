// Small fixture trees for the pack tests, made inline in a temp dir: every kind of entry the tar
// writer must keep (setuid, sticky, hard links, symlinks, long names, numeric owners, odd modes,
// mtimes after SOURCE_DATE_EPOCH), and a fixture of the host files (HostPackageFiles).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { HostPackageFiles } from '../../pipeline/host-package/render.ts';
import type { LayoutRecipe } from '../../pipeline/pack/layout.ts';
import type { ResolvedRecipe } from '../../pipeline/recipe/resolve.ts';
import { recipeSchema } from '../../pipeline/recipe/schema.ts';
import type { StageContext } from '../../pipeline/stage.ts';
import { ToolRunner } from '../../pipeline/util/exec.ts';
import { debianSources, FIXED_MIRROR } from '../helpers/recipe.ts';

export const SDE = 1_750_000_000;
export const IMAGE_UID = 9000;

export const LONG_DIR = `usr/share/${'d'.repeat(60)}/${'e'.repeat(60)}`;
export const LONG_NAME = `${'n'.repeat(120)}.txt`;
export const LONG_TARGET = `../../${'t'.repeat(110)}`;

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `eb-${label}-`));
}

function write(root: string, rel: string, content: string | Buffer, mode = 0o644): string {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  fs.chmodSync(p, mode);
  return p;
}

/** A deterministic, compressible byte pattern of `size` bytes (text-like, not all zeros). */
export function patternBytes(size: number, seed = 1): Buffer {
  const words = ['build', 'runner', 'image', 'debian', 'ssh', 'nspawn', 'tmpfs', 'socket', 'layer', 'pack'];
  const out = Buffer.alloc(size);
  let x = seed;
  let i = 0;
  while (i < size) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    i += out.write(`${words[x % words.length]}${x % 97} `, i);
  }
  return out;
}

/** A tree with one of each kind of entry; owned as an image would be (root, plus uid 9000). */
export function makeFixtureTree(root: string): void {
  fs.mkdirSync(root, { recursive: true });
  fs.chmodSync(root, 0o755);
  write(root, 'usr/bin/dash', '#!/bin/dash\necho dash\n', 0o755);
  fs.symlinkSync('dash', path.join(root, 'usr/bin/sh'));
  write(root, 'usr/bin/su', 'setuid binary\n', 0o4755);
  write(root, 'usr/bin/wall', 'setgid binary\n', 0o2755);
  write(root, 'usr/bin/perl5.40', 'perl\n', 0o755);
  fs.linkSync(path.join(root, 'usr/bin/perl5.40'), path.join(root, 'usr/bin/perl'));
  write(root, 'etc/hostname', 'image\n');
  write(root, 'etc/no-permissions', 'mode 0000\n', 0o000);
  write(root, 'etc/machine-id', '');
  fs.mkdirSync(path.join(root, 'tmp'));
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  fs.mkdirSync(path.join(root, 'var/mail'), { recursive: true });
  fs.chmodSync(path.join(root, 'var/mail'), 0o2775);
  fs.chownSync(path.join(root, 'var/mail'), 0, 8);
  fs.mkdirSync(path.join(root, 'etc/ssh/ephemeral'), { recursive: true });
  write(root, `${LONG_DIR}/file`, 'long path\n');
  write(root, `usr/share/doc/${LONG_NAME}`, 'long name\n');
  write(root, 'usr/share/doc/café', 'not ascii\n');
  fs.symlinkSync(LONG_TARGET, path.join(root, 'usr/share/doc/long-link'));
  write(root, 'usr/lib/big.bin', patternBytes(3 * 1024 * 1024 + 17));
  const home = path.join(root, 'home/builder.template');
  write(root, 'home/builder.template/.profile', 'export PATH\n');
  fs.mkdirSync(path.join(root, 'home/builder'));
  for (const p of [home, path.join(home, '.profile'), path.join(root, 'home/builder')]) fs.chownSync(p, IMAGE_UID, IMAGE_UID);
  // Newer than SOURCE_DATE_EPOCH: clamped. Older: kept.
  fs.utimesSync(path.join(root, 'etc/hostname'), SDE + 86400, SDE + 86400);
  fs.utimesSync(path.join(root, 'usr/bin/dash'), SDE - 86400, SDE - 86400);
  // Directories last, since creating their children moved their mtimes.
  for (const d of ['usr', 'usr/bin', 'etc', 'tmp']) fs.utimesSync(path.join(root, d), SDE - 3600, SDE - 3600);
}

export interface TreeRecord {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  sha256?: string;
  target?: string;
  inode?: string;
}

/** Everything about a tree that packing must keep, by relative path. */
export function describeTree(root: string): Map<string, TreeRecord> {
  const out = new Map<string, TreeRecord>();
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(root, r);
      const st = fs.lstatSync(full);
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
      const rec: TreeRecord = {
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
        size: type === 'file' ? st.size : 0,
      };
      if (type === 'file') rec.sha256 = createHash('sha256').update(fs.readFileSync(full)).digest('hex');
      if (type === 'symlink') rec.target = fs.readlinkSync(full);
      if (type === 'file' && st.nlink > 1) rec.inode = `${st.dev}:${st.ino}`;
      out.set(r, rec);
      if (type === 'dir') walk(r);
    }
  };
  walk('');
  return out;
}

export const FIXTURE_RECIPE: LayoutRecipe = {
  name: 'ebtest',
  version: '1.4.0-rc.1',
  architecture: 'amd64',
  maintainer: 'Pack Tests <pack-tests@example.org>',
  description: 'Throw-away GitLab Runner SSH build containers',
  suite: 'trixie',
  user: { name: 'builder', uid: IMAGE_UID, gid: IMAGE_UID, shell: '/bin/bash' },
  digest: 'a'.repeat(64),
  sourceDateEpoch: SDE,
};

/** Host files as renderHostFiles() returns them, small enough to read in a test. */
export function fixtureHostFiles(r: LayoutRecipe = FIXTURE_RECIPE): HostPackageFiles {
  const script = (what: string) => `#!/bin/sh\nset -e\n# ${what}\nrm -f /run/${r.name}-pack-test\n`;
  return {
    files: [
      { path: `/usr/lib/systemd/system/${r.name}.socket`, mode: 0o644, content: '[Socket]\nListenStream=127.0.0.1:24\nAccept=yes\n' },
      { path: `/usr/lib/${r.name}/spawn`, mode: 0o755, content: '#!/bin/sh\nexec systemd-nspawn --console=pipe "$@"\n' },
      { path: `/usr/sbin/${r.name}ctl`, mode: 0o755, content: '#!/bin/sh\necho ctl\n' },
      { path: `/etc/${r.name}/${r.name}.conf`, mode: 0o644, content: 'PORT=24\n', conffile: true },
      {
        path: `/usr/share/man/man8/${r.name}ctl.8.gz`,
        mode: 0o644,
        content: gzipSync(`.TH ${r.name.toUpperCase()}CTL 8\n.SH NAME\n${r.name}ctl \\- control ${r.name}\n`, { level: 9 }),
      },
    ],
    maintainerScripts: { postinst: script('host postinst'), prerm: script('host prerm'), postrm: script('host postrm') },
    triggers: 'interest-noawait /usr/bin/systemd-nspawn\n',
    imageMaintainerScripts: { prerm: script('image prerm') },
    installSh: '#!/bin/sh\necho install\n',
    // Fixed text, so that golden files do not change with the real override list.
    lintianOverrides: { image: `# a foreign root file system\nembedded-library *[usr/lib/${r.name}/images/${r.version}/*]\n` },
  };
}

/** A resolved recipe without a mirror: FIXTURE_RECIPE's values, low compression levels. */
export function fixtureResolvedRecipe(overrides: Record<string, unknown> = {}): ResolvedRecipe {
  const r = recipeSchema.parse({
    name: FIXTURE_RECIPE.name,
    version: FIXTURE_RECIPE.version,
    maintainer: FIXTURE_RECIPE.maintainer,
    compression: { tarballLevel: 3, debLevel: 1 },
    ...overrides,
  });
  const mirrorState = { ...FIXED_MIRROR, inReleaseSha256: 'b'.repeat(64), date: SDE };
  return {
    ...r,
    file: '/somewhere/recipe.ts',
    digest: FIXTURE_RECIPE.digest,
    overlayRefs: [],
    sourceDateEpoch: SDE,
    mirrorState,
    aptSources: debianSources(r, mirrorState),
  };
}

/** A stage context that keeps progress and log lines in the given arrays. */
export function fixtureCtx(recipe: ResolvedRecipe, workDir: string, progress: string[] = [], log: string[] = []): StageContext {
  const ac = new AbortController();
  return {
    recipe,
    workDir,
    signal: ac.signal,
    tools: new ToolRunner(path.join(workDir, 'pack.log'), () => {}, ac.signal),
    progress: (t) => progress.push(t),
    log: (l) => log.push(l),
    warn: (t) => log.push(`warning: ${t}`),
  };
}
