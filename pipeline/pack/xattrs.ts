// Refuses a tree that carries extended attributes (file capabilities, POSIX ACLs, SELinux labels):
// the tar and .deb formats written here do not carry them, so packing would silently drop them.
// Node has no xattr API; one `getfattr -R` call (Debian package attr) lists every attribute name
// of the whole tree. Reads: nothing from the recipe.
import { execa } from 'execa';
import { ToolMissing, StageError } from '../errors.ts';
import { hasTool } from '../build-machine.ts';

export function requireGetfattr(): void {
  if (!hasTool('getfattr')) throw new ToolMissing('getfattr', 'attr');
}

/** Every file below root that has at least one extended attribute, with the attribute names. */
export async function findXattrs(root: string, signal?: AbortSignal): Promise<Map<string, string[]>> {
  requireGetfattr();
  // -h: attributes of symlinks themselves; -m -: every namespace, not only user.*;
  // without -d only names are listed, which is all that is needed.
  const r = await execa('getfattr', ['-R', '-h', '-m', '-', '--absolute-names', root], {
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
    cancelSignal: signal,
  });
  if (r.exitCode !== 0) {
    throw new StageError('pack', `getfattr could not read the extended attributes of ${root} (exit ${r.exitCode}): ${r.stderr.trim()}`);
  }
  const found = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = [];
      found.set(line.slice('# file: '.length), current);
    } else if (line.trim() && current) {
      current.push(line.trim());
    }
  }
  return found;
}

/** Throws a StageError naming the files (up to 20) if any file below root has an extended attribute. */
export async function assertNoXattrs(root: string, signal?: AbortSignal): Promise<void> {
  const found = await findXattrs(root, signal);
  if (found.size === 0) return;
  const lines = [...found].map(([file, names]) => `${file}: ${names.join(', ')}`);
  const shown = lines.slice(0, 20);
  const more = lines.length > shown.length ? `\n  … and ${lines.length - shown.length} more` : '';
  throw new StageError(
    'pack',
    `extended attributes found on ${found.size} file(s); tar and .deb cannot carry them:\n  ${shown.join('\n  ')}${more}`,
    'remove them in an overlay (setfacl -b for ACLs, setcap -r for capabilities), or recreate the file',
  );
}
