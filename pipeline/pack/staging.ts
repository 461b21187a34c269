// The artifacts of one build appear in OUT together or not at all: each is written under a
// temporary name in OUT (same filesystem, so rename is atomic), and only when every one is
// complete are they renamed, SHA256SUMS last. On failure every temporary file is removed.
// Reads: nothing from the recipe.
import fs from 'node:fs';
import path from 'node:path';
import { tempNameFor } from '../util/fs-atomic.ts';

export class OutputStaging {
  readonly outDir: string;
  private readonly pending: { temp: string; final: string }[] = [];

  constructor(outDir: string) {
    this.outDir = outDir;
    fs.mkdirSync(outDir, { recursive: true });
  }

  /** A temporary path for the artifact `name`; renamed to OUT/name by commit(), in call order. */
  temp(name: string): string {
    const final = path.join(this.outDir, name);
    const temp = tempNameFor(final);
    this.pending.push({ temp, final });
    return temp;
  }

  /** Renames every temporary file to its final name, in the order they were asked for. */
  commit(): string[] {
    const done: string[] = [];
    for (const p of this.pending) {
      fs.renameSync(p.temp, p.final);
      done.push(p.final);
    }
    this.pending.length = 0;
    return done;
  }

  abort(): void {
    for (const p of this.pending) fs.rmSync(p.temp, { force: true });
    this.pending.length = 0;
  }
}
