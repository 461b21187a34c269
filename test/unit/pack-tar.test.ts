// The tar writer, checked with GNU tar: order, modes (setuid, sticky, 0000), numeric owners with
// empty names, clamped mtimes, hard and symbolic links, long names as GNU long-name entries, refusal of device
// nodes, sockets and extended attributes, determinism, and flat memory on a large file.
import { execa, execaSync } from 'execa';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compressTo } from '../../pipeline/pack/compress.ts';
import { mergeEntries, scanTree, syntheticEntries, type TarEntry } from '../../pipeline/pack/tar-entries.ts';
import { tarStream } from '../../pipeline/pack/tar-writer.ts';
import { packTarball } from '../../pipeline/pack/tarball.ts';
import { assertNoXattrs } from '../../pipeline/pack/xattrs.ts';
import { describeWith } from '../helpers/env.ts';
import { REPO } from '../helpers/paths.ts';
import { describeTree, LONG_DIR, LONG_NAME, LONG_TARGET, makeFixtureTree, SDE, tempDir } from './pack-fixture.ts';

async function entriesOf(root: string, prefix = ''): Promise<TarEntry[]> {
  return mergeEntries([await scanTree(root, prefix, SDE)], SDE);
}

async function writeTar(entries: TarEntry[], file: string): Promise<void> {
  const { stream, result } = tarStream(entries);
  const out = fs.createWriteStream(file);
  for await (const chunk of stream) if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((r) => out.end(() => r()));
  await result;
}

/** Every header as tar-stream reads it back (names, owners, user and group names). */
async function rawHeaders(file: string): Promise<{ name: string; uname: string; gname: string; type: string }[]> {
  const ex = extract();
  const headers: { name: string; uname: string; gname: string; type: string }[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      headers.push({ name: entry.header.name, uname: entry.header.uname, gname: entry.header.gname, type: entry.header.type });
      entry.resume();
    }
  })();
  fs.createReadStream(file).pipe(ex as unknown as NodeJS.WritableStream);
  await done;
  return headers;
}

/** The typeflag of every header block, walking the archive block by block. */
function typeflags(tar: Buffer): string[] {
  const flags: string[] = [];
  let off = 0;
  while (off + 512 <= tar.length && tar[off] !== 0) {
    const flag = String.fromCharCode(tar[off + 156]!);
    const sizeField = tar.subarray(off + 124, off + 136);
    const size = sizeField[0]! & 0x80 ? Number(sizeField.readBigUInt64BE(4)) : parseInt(sizeField.toString('latin1').replace(/\0.*$/, '') || '0', 8);
    flags.push(flag);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return flags;
}

let work: string;
let tree: string;
let tarFile: string;

beforeAll(() => {
  work = tempDir('pack-tar');
  tree = path.join(work, 'tree');
  tarFile = path.join(work, 'tree.tar');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describeWith({ root: true, tools: ['tar'] }, 'tar writer', () => {
  beforeAll(async () => {
    makeFixtureTree(tree);
    await writeTar(await entriesOf(tree, 'usr/lib/ebtest/images/1.4.0'), tarFile);
  });

  it('lists as GNU tar sees it: sorted, numeric owners, modes, links, clamped mtimes (golden)', async () => {
    const listing = execaSync('tar', ['-tvv', '--numeric-owner', '-f', tarFile], { env: { TZ: 'UTC', LC_ALL: 'C' } }).stdout;
    await expect(`${listing}\n`).toMatchFileSnapshot('../golden/pack-tar-listing.txt');
  });

  it('writes entries in bytewise path order, parents first, with "./" names', async () => {
    const names = execaSync('tar', ['-tf', tarFile]).stdout.split('\n');
    const keys = names.map((n) => n.replace(/\/$/, ''));
    const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(keys).toEqual(sorted);
    expect(names.slice(0, 6)).toEqual(['./', './usr/', './usr/lib/', './usr/lib/ebtest/', './usr/lib/ebtest/images/', './usr/lib/ebtest/images/1.4.0/']);
  });

  it('records no user or group names, only numbers', async () => {
    const headers = await rawHeaders(tarFile);
    expect(headers.length).toBeGreaterThan(20);
    expect(headers.filter((h) => h.uname !== '' || h.gname !== '')).toEqual([]);
    // GNU tar shows a name wherever one is recorded; none are.
    const listing = execaSync('tar', ['-tvf', tarFile]).stdout;
    expect(listing).not.toMatch(/ root\/root /);
    expect(listing).toMatch(/ 9000\/9000 .*home\/builder\.template\/\.profile/);
  });

  it('extracts with GNU tar to the same tree: paths, types, modes, owners, contents, links, mtimes', async () => {
    const dest = path.join(work, 'gnu-x');
    fs.mkdirSync(dest);
    execaSync('tar', ['-xpf', tarFile, '-C', dest]);
    const want = describeTree(tree);
    const got = describeTree(path.join(dest, 'usr/lib/ebtest/images/1.4.0'));
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [p, w] of want) {
      const g = got.get(p)!;
      const clamped = Math.min(w.mtime, SDE);
      expect({ ...g, inode: undefined, mtime: g.type === 'symlink' ? clamped : g.mtime }, p).toEqual({ ...w, inode: undefined, mtime: clamped });
    }
    // Hard links stay hard links.
    expect(got.get('usr/bin/perl')!.inode).toBeDefined();
    expect(got.get('usr/bin/perl')!.inode).toBe(got.get('usr/bin/perl5.40')!.inode);
    expect(fs.readlinkSync(path.join(dest, 'usr/lib/ebtest/images/1.4.0/usr/share/doc/long-link'))).toBe(LONG_TARGET);
  });

  it('stores long names and link targets as GNU long-name entries, never PAX (dpkg refuses PAX)', async () => {
    const names = execaSync('tar', ['-tf', tarFile]).stdout.split('\n');
    expect(names).toContain(`./usr/lib/ebtest/images/1.4.0/${LONG_DIR}/file`);
    expect(names).toContain(`./usr/lib/ebtest/images/1.4.0/usr/share/doc/${LONG_NAME}`);
    expect(names).toContain('./usr/lib/ebtest/images/1.4.0/usr/share/doc/café');
    const headers = await rawHeaders(tarFile);
    expect(headers.map((h) => h.name)).toContain(`./usr/lib/ebtest/images/1.4.0/usr/share/doc/${LONG_NAME}`);
    const flags = typeflags(fs.readFileSync(tarFile));
    expect(flags).toContain('L');
    expect(flags).toContain('K');
    expect(flags.filter((f) => f === 'x' || f === 'g')).toEqual([]);
  });

  it('writes ids beyond 2^21 in base-256, which GNU tar reads', async () => {
    const t = path.join(work, 'bigid');
    fs.mkdirSync(t);
    fs.writeFileSync(path.join(t, 'f'), 'x');
    fs.chownSync(path.join(t, 'f'), 3_000_000, 3_000_001);
    const file = path.join(work, 'bigid.tar');
    await writeTar(await entriesOf(t), file);
    expect(execaSync('tar', ['-tvf', file, '--numeric-owner']).stdout).toMatch(/ 3000000\/3000001 .* \.\/f$/m);
  });

  it('is byte-identical for the same tree, and for a copy of it at another path (other inodes)', async () => {
    const again = path.join(work, 'again.tar');
    await writeTar(await entriesOf(tree, 'usr/lib/ebtest/images/1.4.0'), again);
    expect(fs.readFileSync(again).equals(fs.readFileSync(tarFile))).toBe(true);
    const copy = path.join(work, 'copy');
    execaSync('cp', ['-a', tree, copy]);
    const copyTar = path.join(work, 'copy.tar');
    await writeTar(await entriesOf(copy, 'usr/lib/ebtest/images/1.4.0'), copyTar);
    expect(fs.readFileSync(copyTar).equals(fs.readFileSync(tarFile))).toBe(true);
  });

  it('merges synthetic files with a tree, adding parents once', async () => {
    const merged = mergeEntries(
      [
        await scanTree(tree, 'usr/lib/ebtest/images/1.4.0', SDE),
        syntheticEntries([{ path: '/usr/lib/systemd/system/ebtest.socket', mode: 0o644, content: '[Socket]\n' }], SDE),
      ],
      SDE,
    );
    const paths = merged.map((e) => e.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).toContain('usr/lib/systemd');
    expect(paths.indexOf('usr/lib/systemd')).toBeLessThan(paths.indexOf('usr/lib/systemd/system/ebtest.socket'));
    expect(() =>
      mergeEntries(
        [
          syntheticEntries(
            [
              { path: '/a', mode: 0o644, content: 'x' },
              { path: 'a', mode: 0o644, content: 'y' },
            ],
            SDE,
          ),
        ],
        SDE,
      ),
    ).toThrow(/given twice/);
  });

  it('refuses device nodes and sockets, naming them', async () => {
    const bad = path.join(work, 'bad');
    fs.mkdirSync(path.join(bad, 'dev'), { recursive: true });
    execaSync('mknod', [path.join(bad, 'dev/null'), 'c', '1', '3']);
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(path.join(bad, 'sock'), r));
    try {
      await expect(scanTree(bad, '', SDE)).rejects.toThrow(
        new RegExp(`${bad}/dev/null \\(device node\\)[\\s\\S]*${bad}/sock \\(socket\\)|${bad}/sock \\(socket\\)[\\s\\S]*${bad}/dev/null`),
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('fails the stream, and the compressor, when a file vanishes while packing', async () => {
    const t = path.join(work, 'vanish');
    fs.mkdirSync(t);
    fs.writeFileSync(path.join(t, 'a'), 'a');
    fs.writeFileSync(path.join(t, 'b'), 'b');
    const entries = await entriesOf(t);
    fs.rmSync(path.join(t, 'b'));
    const { stream, result } = tarStream(entries);
    const out = path.join(work, 'vanish.tar.zst');
    await expect(Promise.all([compressTo(stream, out, { tool: 'zstd', level: 1 }), result])).rejects.toThrow(/ENOENT.*vanish\/b/);
  });
});

describeWith({ root: true, tools: ['getfattr', 'setfattr'] }, 'extended attributes', () => {
  it('are an error that names the file', async () => {
    const t = path.join(work, 'xattr');
    fs.mkdirSync(path.join(t, 'usr/bin'), { recursive: true });
    fs.writeFileSync(path.join(t, 'usr/bin/ping'), 'ping');
    fs.writeFileSync(path.join(t, 'usr/bin/clean'), 'clean');
    await expect(assertNoXattrs(t)).resolves.toBeUndefined();
    execaSync('setfattr', ['-n', 'user.eb-test', '-v', '1', path.join(t, 'usr/bin/ping')]);
    await expect(assertNoXattrs(t)).rejects.toThrow(new RegExp(`1 file\\(s\\)[\\s\\S]*${t}/usr/bin/ping: user.eb-test`));
  });
});

describeWith({ tools: ['tar', 'zstd'] }, 'recycled batch buffers', () => {
  it('packs files spanning many 1 MiB batches with every byte intact (GNU tar extracts the same contents)', async () => {
    // The writer reuses a batch once the compressor has it: a batch reused too early would
    // overwrite bytes still queued for zstd, and some file below would differ.
    const t = path.join(work, 'batches');
    fs.mkdirSync(t);
    const sizes = [1, 300_000, 1024 * 1024, 1024 * 1024 + 1, 2_500_000, 700_001, 3 * 1024 * 1024 - 7, 9_999_999];
    const originals = sizes.map((size, i) => {
      const data = crypto.randomBytes(size);
      fs.writeFileSync(path.join(t, `f${i}`), data);
      return data;
    });
    const out = path.join(work, 'batches.tar.zst');
    await packTarball(t, out, { level: 1, sourceDateEpoch: SDE });
    const x = path.join(work, 'batches-x');
    fs.mkdirSync(x);
    await execa('sh', ['-c', `zstd -dc '${out}' | tar -xf - -C '${x}'`]);
    for (const [i, data] of originals.entries()) expect(fs.readFileSync(path.join(x, `f${i}`)).equals(data), `f${i}`).toBe(true);
  });
});

describeWith({ tools: ['zstd'] }, 'memory', () => {
  it('stays flat (< 200 MB RSS) while packing a 1 GiB file', async () => {
    const t = path.join(work, 'huge');
    fs.mkdirSync(t);
    // Sparse: no disk space used, but every byte is read and packed.
    fs.writeFileSync(path.join(t, 'huge.img'), '');
    fs.truncateSync(path.join(t, 'huge.img'), 1024 ** 3);
    const script = path.join(work, 'rss.ts');
    fs.writeFileSync(
      script,
      `
      import { packTarball } from '${REPO}/pipeline/pack/tarball.ts';
      const c = await packTarball(${JSON.stringify(t)}, ${JSON.stringify(path.join(work, 'huge.tar.zst'))}, { level: 1, sourceDateEpoch: 0 });
      console.log(JSON.stringify({ bytesIn: c.bytesIn, maxRssKiB: process.resourceUsage().maxRSS }));
    `,
    );
    const r = await execa('npx', ['node', script], { cwd: REPO });
    const { bytesIn, maxRssKiB } = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(bytesIn).toBeGreaterThan(1024 ** 3);
    console.log(`peak RSS packing 1 GiB: ${Math.round(maxRssKiB / 1024)} MB`);
    expect(maxRssKiB / 1024).toBeLessThan(200);
  });
});
