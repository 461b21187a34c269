// File operations inside an image root with chroot semantics: absolute symlinks resolve against
// the root and ".." stops at it, so no path given here can reach the build host's files.
// (Debian's merged /usr makes /bin, /lib and /sbin symlinks; following them inside the root is
// what makes an overlay's files/bin/x land in usr/bin/x, as it would on the running image.)
import fs from 'node:fs';
import path from 'node:path';

const MAX_LINKS = 40;

export interface WriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
}

export class ImageRoot {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  /**
   * The host path of an image path. Every intermediate symlink is followed inside the root; the
   * last component is followed only when followLast is set (writing replaces a final symlink).
   */
  resolve(imagePath: string, followLast = true): string {
    let links = 0;
    const pending = imagePath.split('/').filter(Boolean);
    const done: string[] = [];
    while (pending.length) {
      const part = pending.shift() as string;
      if (part === '.') continue;
      if (part === '..') {
        done.pop(); // at the root, ".." stays at the root
        continue;
      }
      const host = path.join(this.root, ...done, part);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(host);
      } catch {
        st = undefined;
      }
      if (st?.isSymbolicLink() && (pending.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw new Error(`too many symlinks resolving ${imagePath} in the image`);
        const target = fs.readlinkSync(host);
        if (target.startsWith('/')) done.length = 0;
        pending.unshift(...target.split('/').filter(Boolean));
        continue;
      }
      done.push(part);
    }
    return path.join(this.root, ...done);
  }

  exists(imagePath: string): boolean {
    return fs.existsSync(this.resolve(imagePath));
  }

  readText(imagePath: string): string {
    return fs.readFileSync(this.resolve(imagePath), 'utf8');
  }

  readTextIfExists(imagePath: string): string | undefined {
    const p = this.resolve(imagePath);
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined;
  }

  writeFile(imagePath: string, data: string | Uint8Array, opts: WriteOptions = {}): void {
    const target = this.resolve(imagePath, false);
    this.mkdirHost(path.dirname(target));
    const existing = lstatOrUndefined(target);
    if (existing?.isSymbolicLink() || existing?.isDirectory()) fs.rmSync(target, { recursive: true, force: true });
    fs.writeFileSync(target, data);
    this.own(target, opts, 0o644);
  }

  mkdir(imagePath: string, opts: WriteOptions = {}): void {
    const target = this.resolve(imagePath);
    this.mkdirHost(target);
    this.own(target, opts, 0o755);
  }

  symlink(imagePath: string, linkTarget: string): void {
    const at = this.resolve(imagePath, false);
    this.mkdirHost(path.dirname(at));
    fs.rmSync(at, { recursive: true, force: true });
    fs.symlinkSync(linkTarget, at);
    fs.lchownSync(at, 0, 0);
  }

  remove(imagePath: string): void {
    fs.rmSync(this.resolve(imagePath, false), { recursive: true, force: true });
  }

  /** Entries of an image directory, or [] when it does not exist. */
  list(imagePath: string): string[] {
    const p = this.resolve(imagePath);
    return fs.existsSync(p) ? fs.readdirSync(p) : [];
  }

  private mkdirHost(hostDir: string): void {
    if (!hostDir.startsWith(this.root)) throw new Error(`refusing to create ${hostDir}: outside the image root`);
    fs.mkdirSync(hostDir, { recursive: true });
  }

  private own(target: string, opts: WriteOptions, defaultMode: number): void {
    fs.chmodSync(target, opts.mode ?? defaultMode);
    fs.chownSync(target, opts.uid ?? 0, opts.gid ?? 0);
  }
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}
