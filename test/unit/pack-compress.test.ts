// Streaming compression through xz and zstd: round trip, output independent of the core count
// (and different from the single-threaded encoder, which is what that independence guards
// against), and failures that reject with the cause: ENOSPC, a bad level, a failing source.
import { execa, execaSync } from 'execa';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compressBuffer, compressorCommand, compressTo, xzBlockSize, type CompressionSpec } from '../../pipeline/pack/compress.ts';
import { describeWith } from '../helpers/env.ts';
import { REPO } from '../helpers/paths.ts';
import { patternBytes, tempDir } from './pack-fixture.ts';

let work: string;
let input: Buffer;
beforeAll(() => {
  work = tempDir('pack-compress');
  // Larger than several xz blocks at -1 (3 × 1 MiB) and zstd jobs at -3, so threads matter.
  input = patternBytes(24 * 1024 * 1024);
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

async function* chunks(buf: Buffer, size = 256 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Our compressor, run in a child process pinned to `cpus` (availableParallelism follows the affinity). */
async function compressPinned(cpus: string, spec: CompressionSpec, inFile: string, outFile: string): Promise<string> {
  const script = path.join(work, 'pinned.ts');
  fs.writeFileSync(
    script,
    `
    import fs from 'node:fs';
    import { compressTo } from '${REPO}/pipeline/pack/compress.ts';
    await compressTo(fs.createReadStream(process.argv[2]), process.argv[3], JSON.parse(process.argv[4]));
  `,
  );
  await execa('taskset', ['-c', cpus, 'npx', 'node', script, inFile, outFile, JSON.stringify(spec)], { cwd: REPO });
  return sha(fs.readFileSync(outFile));
}

describeWith({ tools: ['xz', 'zstd', 'taskset'] }, 'compression', () => {
  // 24 MiB at xz -1 is 8 default blocks of 3 MiB; with inputBytes a little above it, 10 equal ones.
  for (const spec of [
    { tool: 'xz', level: 1 },
    { tool: 'xz', level: 1, inputBytes: 25 * 1024 * 1024 },
    { tool: 'zstd', level: 3 },
    { tool: 'zstd', level: 3, long: true },
  ] as CompressionSpec[]) {
    const label = `${spec.tool} -${spec.level}${spec.long ? ' --long' : ''}${spec.inputBytes ? ' with inputBytes' : ''}`;

    it(`${label}: round-trips a stream`, async () => {
      const out = path.join(work, `rt.${spec.tool}`);
      const r = await compressTo(chunks(input), out, spec);
      expect(r.bytesIn).toBe(input.length);
      expect(r.bytesOut).toBe(fs.statSync(out).size);
      expect(r.bytesOut).toBeLessThan(input.length / 2);
      // Plain `-d`: hosts decompress without knowing how the file was made.
      const back = execaSync(spec.tool, ['-d', '-c', out], { encoding: 'buffer', stripFinalNewline: false, maxBuffer: 64 * 1024 * 1024 }).stdout;
      expect(sha(Buffer.from(back))).toBe(sha(input));
    });

    it(`${label}: gives the same bytes on 1 core as on all cores, unlike the single-threaded encoder`, async () => {
      const inFile = path.join(work, 'input.bin');
      fs.writeFileSync(inFile, input);
      const one = await compressPinned('0', spec, inFile, path.join(work, 'one'));
      const all = await compressPinned(`0-${Math.max(0, (await import('node:os')).availableParallelism() - 1)}`, spec, inFile, path.join(work, 'all'));
      expect(one).toBe(all);
      const single = spec.tool === 'xz' ? ['-T1'] : ['--single-thread'];
      const st = execaSync(spec.tool, ['-c', `-${spec.level}`, ...single, ...(spec.long ? ['--long=27'] : []), inFile], {
        encoding: 'buffer',
        stripFinalNewline: false,
        maxBuffer: 64 * 1024 * 1024,
      }).stdout;
      expect(sha(Buffer.from(st))).not.toBe(one);
    });
  }

  it('asks for at least two threads, and for xz refuses to fall back to single-threaded', () => {
    expect(compressorCommand({ tool: 'xz', level: 6 }).args).toEqual(
      expect.arrayContaining(['--no-adjust', expect.stringMatching(/^--threads=([2-9]|\d\d+)$/)]),
    );
    expect(compressorCommand({ tool: 'zstd', level: 19 }).args).toEqual(expect.arrayContaining([expect.stringMatching(/^-T([2-9]|\d\d+)$/)]));
    expect(compressorCommand({ tool: 'zstd', level: 22 }).args).toContain('--ultra');
  });

  it('splits a known xz input into an even number of equal blocks, none above the default', async () => {
    const MiB = 1024 * 1024;
    expect(xzBlockSize(6, 24 * MiB)).toBeUndefined();
    expect(xzBlockSize(6, 275_000_000)).toBe(Math.ceil(275_000_000 / 12));
    expect(xzBlockSize(6, 48 * MiB + 1)).toBe(Math.ceil((48 * MiB + 1) / 4));
    expect(xzBlockSize(9, 200 * MiB)).toBe(100 * MiB);
    // -0: 256 KiB dictionary, but xz blocks are at least 1 MiB: 3 MiB makes 3, rounded up to 4.
    expect(xzBlockSize(0, 3 * MiB)).toBe(0.75 * MiB);
    expect(compressorCommand({ tool: 'xz', level: 6, inputBytes: 275_000_000 }).args).toContain(`--block-size=${Math.ceil(275_000_000 / 12)}`);
    expect(compressorCommand({ tool: 'xz', level: 6 }).args.some((a) => a.startsWith('--block-size'))).toBe(false);
    // The blocks in the file, as xz lists them: 10 for 24 MiB given as 25 MiB at -1 (2.5 MiB each).
    const out = path.join(work, 'blocks.xz');
    await compressTo(chunks(input), out, { tool: 'xz', level: 1, inputBytes: 25 * MiB });
    const list = execaSync('xz', ['--robot', '--list', '-vv', out])
      .stdout.split('\n')
      .filter((l) => l.startsWith('block\t'));
    const sizes = list.map((l) => Number(l.split('\t')[7]));
    expect(sizes).toHaveLength(10);
    expect(sizes.slice(0, -1).every((b) => b === 2.5 * MiB)).toBe(true);
  });

  it('rejects with ENOSPC when the output cannot be written', async () => {
    await expect(compressTo(chunks(input), '/dev/full', { tool: 'zstd', level: 1 })).rejects.toThrow(/zstd .*failed.*No space left on device/s);
    await expect(compressTo(chunks(input), '/dev/full', { tool: 'xz', level: 0 })).rejects.toThrow(/xz .*failed.*No space left on device/s);
  });

  it("rejects with the source's error, and kills the compressor", async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield input.subarray(0, 1024 * 1024);
      throw new Error('source broke');
    }
    const before = execaSync('pgrep', ['-c', '-P', String(process.pid)], { reject: false }).stdout.trim();
    await expect(compressTo(failing(), path.join(work, 'broken.zst'), { tool: 'zstd', level: 1 })).rejects.toThrow('source broke');
    expect(execaSync('pgrep', ['-c', '-P', String(process.pid)], { reject: false }).stdout.trim()).toBe(before);
  });

  it('rejects a level the tool does not have', async () => {
    await expect(compressTo(chunks(input), path.join(work, 'bad.xz'), { tool: 'xz', level: 12 })).rejects.toThrow(RangeError);
  });

  it('compresses small buffers in memory the same way', async () => {
    const small = patternBytes(100_000);
    const viaBuffer = await compressBuffer(small, { tool: 'xz', level: 6 });
    const file = path.join(work, 'small.xz');
    await compressTo(chunks(small), file, { tool: 'xz', level: 6 });
    expect(viaBuffer.equals(fs.readFileSync(file))).toBe(true);
  });

  it('stops the compressor when the signal aborts', async () => {
    const ac = new AbortController();
    async function* slow(): AsyncGenerator<Buffer> {
      yield input.subarray(0, 1024);
      ac.abort();
      await new Promise((r) => setTimeout(r, 100));
      yield input.subarray(0, 1024);
    }
    await expect(compressTo(slow(), path.join(work, 'aborted.zst'), { tool: 'zstd', level: 1 }, ac.signal)).rejects.toThrow(/abort/i);
  });
});
