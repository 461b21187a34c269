// Write-to-temporary-then-rename, so a reader (or out/) never sees a half-written file.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export function tempNameFor(final: string): string {
  return path.join(path.dirname(final), `.${path.basename(final)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempNameFor(file);
  try {
    fs.writeFileSync(tmp, data, { mode });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Replace a directory atomically enough: move the old one aside, rename the new one in, drop the old. */
export function replaceDir(tmpDir: string, finalDir: string): void {
  const aside = `${finalDir}.old-${process.pid}`;
  const had = fs.existsSync(finalDir);
  if (had) fs.renameSync(finalDir, aside);
  fs.renameSync(tmpDir, finalDir);
  if (had) fs.rmSync(aside, { recursive: true, force: true });
}
