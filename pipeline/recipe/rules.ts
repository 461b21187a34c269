// Rules a schema cannot express: relations between fields and facts about the repository.
// Reads: user, overlays, binds, repositories, steps. Runs offline; package and suite checks
// against the mirror live in resolve.ts.
import fs from 'node:fs';
import path from 'node:path';
import { ASSET_ROOT, overlayScript } from '../package-root.ts';
import type { Recipe } from './schema.ts';

/** Users and groups Debian's base system and our packages create; the builder must not reuse them. */
const SYSTEM_USERS = [
  'root',
  'daemon',
  'bin',
  'sys',
  'sync',
  'games',
  'man',
  'lp',
  'mail',
  'news',
  'uucp',
  'proxy',
  'www-data',
  'backup',
  'list',
  'irc',
  'gnats',
  'nobody',
  '_apt',
  'sshd',
  'messagebus',
  'systemd-network',
  'systemd-timesync',
  'systemd-resolve',
  'systemd-journal',
  'polkitd',
  'staff',
  'users',
  'nogroup',
  'adm',
  'tty',
  'disk',
  'sudo',
];
/** uids and gids reserved by Debian policy or systemd: nobody, dynamic users, container ranges. */
const RESERVED_IDS = new Set([65534]);

export const BUILTIN_OVERLAYS_DIR = path.join(ASSET_ROOT, 'overlays');

export interface OverlayRef {
  /** As written in the recipe. */
  name: string;
  /** Absolute directory holding files/ and/or overlay.ts (overlay.js in the installed package). */
  dir: string;
}

/** Where an overlay name points: a built-in folder, or a path relative to the recipe file. */
export function locateOverlay(name: string, recipeDir: string): string {
  return name.includes('/') || name.startsWith('.') ? path.resolve(recipeDir, name) : path.join(BUILTIN_OVERLAYS_DIR, name);
}

export function checkRules(recipe: Recipe, recipeDir: string): { problems: string[]; overlays: OverlayRef[] } {
  const problems: string[] = [];
  const { user } = recipe;
  if (SYSTEM_USERS.includes(user.name)) problems.push(`user.name: "${user.name}" is a system user or group in Debian; pick another name such as "builder"`);
  if (RESERVED_IDS.has(user.uid)) problems.push(`user.uid: ${user.uid} is reserved (nobody)`);
  if (RESERVED_IDS.has(user.gid)) problems.push(`user.gid: ${user.gid} is reserved (nogroup)`);

  const seen = new Map<string, number>();
  const overlays: OverlayRef[] = [];
  recipe.overlays.forEach((name, i) => {
    const at = `overlays[${i}]`;
    if (seen.has(name)) {
      problems.push(`${at}: "${name}" is listed twice (first at overlays[${seen.get(name)}]); an overlay is applied once`);
      return;
    }
    seen.set(name, i);
    const dir = locateOverlay(name, recipeDir);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      problems.push(`${at}: no overlay directory at ${dir}; create it with a files/ tree or an overlay.ts`);
      return;
    }
    const hasFiles = fs.existsSync(path.join(dir, 'files'));
    const hasScript = overlayScript(dir) !== undefined;
    if (!hasFiles && !hasScript) problems.push(`${at}: ${dir} has neither files/ nor overlay.ts`);
    if (hasFiles) problems.push(...findEscapes(path.join(dir, 'files')).map((p) => `${at}: ${p}`));
    overlays.push({ name, dir });
  });
  const hygiene = recipe.overlays.indexOf('hygiene');
  if (hygiene !== -1 && hygiene !== recipe.overlays.length - 1) {
    problems.push(`overlays[${hygiene}]: "hygiene" must come last: it clamps timestamps and removes caches every earlier overlay may leave`);
  }
  const targets = new Set<string>();
  recipe.binds.forEach((b, i) => {
    const target = b.target ?? b.source;
    if (targets.has(target)) problems.push(`binds[${i}].target: ${target} is bound twice`);
    targets.add(target);
    if (/^\/(home|proc|sys|dev|run)(\/|$)/.test(target) || target === '/')
      problems.push(`binds[${i}].target: ${target} is managed by the container; bind elsewhere, e.g. /usr/local/bin`);
  });
  problems.push(...repositoryProblems(recipe, recipeDir), ...stepProblems(recipe, recipeDir));
  return { problems, overlays };
}

/** A file the recipe names (a key, a step's file): relative to the recipe's directory, or absolute. */
export function fromRecipe(recipeDir: string, file: string): string {
  return path.resolve(recipeDir, file);
}

function isFile(file: string): boolean {
  return fs.existsSync(file) && fs.statSync(file).isFile();
}

function repositoryProblems(recipe: Recipe, recipeDir: string): string[] {
  const problems: string[] = [];
  const names = new Map<string, number>();
  recipe.repositories.forEach((repo, i) => {
    const at = `repositories[${i}]`;
    // debian.sources is the file the bootstrap writes for the Debian suites themselves.
    if (repo.name === 'debian') problems.push(`${at}.name: "debian" names the image's Debian sources; pick another name`);
    if (names.has(repo.name)) problems.push(`${at}.name: "${repo.name}" is already the name of repositories[${names.get(repo.name)}]`);
    names.set(repo.name, i);
    const key = fromRecipe(recipeDir, repo.key);
    if (!isFile(key)) problems.push(`${at}.key: no such file ${key} (a key file is read relative to the recipe)`);
  });
  return problems;
}

function stepProblems(recipe: Recipe, recipeDir: string): string[] {
  const problems: string[] = [];
  const names = new Map<string, number>();
  recipe.steps.forEach((step, i) => {
    const at = `steps[${i}]`;
    if (names.has(step.name)) problems.push(`${at}.name: "${step.name}" is already the name of steps[${names.get(step.name)}]; step names must be unique`);
    names.set(step.name, i);
    if (step.run === undefined && step.script === undefined) problems.push(`${at}: give the command, as run (an argument vector) or script (shell)`);
    else if (step.run !== undefined && step.script !== undefined) problems.push(`${at}: give run or script, not both`);
    else if (step.run !== undefined && (step.run.length === 0 || !step.run[0]?.trim())) problems.push(`${at}.run: the command is empty`);
    else if (step.script !== undefined && !step.script.trim()) problems.push(`${at}.script: the script is empty`);
    step.files.forEach((f, j) => {
      const from = fromRecipe(recipeDir, f.from);
      if (!isFile(from)) problems.push(`${at}.files[${j}].from: no such file ${from} (read relative to the recipe)`);
    });
  });
  return problems;
}

/** Symlinks in an overlay's files/ that point outside the image root, and names with "..". */
export function findEscapes(filesDir: string): string[] {
  const problems: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const relPath = `${rel}/${entry.name}`;
      const full = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        const target = fs.readlinkSync(full);
        const resolved = path.posix.resolve(path.posix.dirname(relPath), target);
        // An absolute target is read inside the image root at run time, so only ".." climbing
        // above "/" of a relative link escapes; path.posix.resolve clamps at "/", so compare depth.
        if (!target.startsWith('/') && escapesRoot(path.posix.dirname(relPath), target)) {
          problems.push(`files${relPath} is a symlink to "${target}", which escapes the image root (resolves above / from ${resolved})`);
        }
      } else if (entry.isDirectory()) {
        walk(full, relPath);
      }
    }
  };
  walk(filesDir, '');
  return problems;
}

function escapesRoot(fromDir: string, relTarget: string): boolean {
  let depth = fromDir.split('/').filter(Boolean).length;
  for (const part of relTarget.split('/')) {
    if (part === '..') depth -= 1;
    else if (part !== '.' && part !== '') depth += 1;
    if (depth < 0) return true;
  }
  return false;
}
