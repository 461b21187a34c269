// The filter loader (host/bin/syscall-filter exec, spawn's last step) on stored chains made here:
// it loads every filter of a usable chain in order and execs the program with SYSTEMD_SECCOMP=0;
// a chain made by anything else (another nspawn, library, kernel, architecture or extra options),
// damaged, or one others may write it refuses, `check` with the reason and `exec` by saying why
// and letting nspawn compile its own (the program runs without SYSTEMD_SECCOMP, under no filter
// of the file). Loading filters without no_new_privs needs CAP_SYS_ADMIN: root.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { renderHostFiles } from '../../pipeline/host-package/render.ts';
import { describeWith } from '../helpers/env.ts';
import { tempDir, testRecipe } from './host-fixture.ts';

const NAME = 'ebfx';
const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
let work: string;
let lib: string;
let nspawn: string;
let lib1: string;
let lib2: string;

// Small filters: allow everything; refuse add_key (248 on x86_64) with an errno. Of two filters
// that give the same action the newest decides (kernel/seccomp.c), so the errno a process gets
// shows the order they were loaded in.
const insn = (code: number, jt: number, jf: number, k: number) => {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b.writeUInt8(jt, 2);
  b.writeUInt8(jf, 3);
  b.writeUInt32LE(k >>> 0, 4);
  return b;
};
const ALLOW = [insn(0x06, 0, 0, 0x7fff0000)];
const noAddKey = (errno: number) => [insn(0x20, 0, 0, 0), insn(0x15, 0, 1, 248), insn(0x06, 0, 0, 0x00050000 | errno), insn(0x06, 0, 0, 0x7fff0000)];
const [EPERM, EACCES] = [1, 13];

function chain(...filters: Buffer[][]): Buffer {
  return Buffer.concat(filters.flatMap((f) => [Buffer.from([0, 0, (f.length >> 8) & 0xff, f.length & 0xff]), ...f]));
}

/** The Perl helper's ident(): dev:ino:size:mtime:ctime of a file, "-" when it is missing. */
function ident(file: string): string {
  const s = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
  return s ? [s.dev, s.ino, s.size, s.mtimeMs / 1000n, s.ctimeMs / 1000n].join(':') : '-';
}

/**
 * The header the Perl helper writes (its header()): checked against the Perl helper below. The
 * libraries are stand-ins (files of this test), which the header names as nspawn's would be.
 */
function header(options: string, o: { arch?: string; kernel?: string; libs?: string[] } = {}): string {
  const libs = (o.libs ?? [lib1, lib2]).map((l) => ` lib=${l}@${ident(l)}`).join('');
  return `ebsf2 arch=${o.arch ?? os.machine()} kernel=${o.kernel ?? os.release()} nspawn=${ident(nspawn)}${libs} options=${Buffer.from(options.split(/\s+/).filter(Boolean).join(' ')).toString('hex')}\n`;
}

/** A stored filter file: a header line, then the raw chain. */
function store(head: string, body: Buffer = Buffer.alloc(0), mode = 0o644): string {
  const file = path.join(work, `filter-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, Buffer.concat([Buffer.from(head, 'latin1'), body]), { mode });
  fs.chmodSync(file, mode);
  return file;
}

/** What the loaded program sees: its filters and the switch nspawn reads. */
const STATE = 'grep ^Seccomp_filters: /proc/self/status; echo "SYSTEMD_SECCOMP=$SYSTEMD_SECCOMP"';
/** The same, and which filter refuses add_key (only where one does: else it adds a key to this test's keyring). */
const PROGRAM = [
  '/bin/sh',
  '-c',
  `${STATE}; /usr/bin/perl -e 'my ($t, $d, $p) = ("user", "eb-fx", "x"); print syscall(248, $t, $d, $p, 1, -2) > 0 ? "added\\n" : "refused: $!\\n"'`,
];

/**
 * Runs the loader as spawn does. EB_ROOT set, as for a test tree: a stale chain is never stored
 * again in the background (that needs a booted host, product-install-sh.test.ts).
 */
function load(file: string, options = '', program = PROGRAM) {
  return execa('/usr/bin/perl', [path.join(lib, 'syscall-filter'), 'exec', file, ...program], {
    reject: false,
    env: { PATH, EB_NSPAWN_EXTRA_OPTIONS: options, EB_ROOT: work },
    extendEnv: false,
  });
}

/** The Perl helper's verdict on a stored file (`check`), with the same PATH for nspawn's lookup. */
function check(file: string, options = '') {
  return execa('/usr/bin/perl', [path.join(lib, 'syscall-filter'), 'check', file], {
    reject: false,
    env: { PATH, EB_NSPAWN_EXTRA_OPTIONS: options },
    extendEnv: false,
  });
}

describeWith({ root: true, tools: ['perl', 'systemd-nspawn'] }, 'syscall-filter, the loader of the stored filter', () => {
  beforeAll(async () => {
    work = tempDir('eb-syscall-filter');
    lib = path.join(work, 'lib');
    fs.mkdirSync(lib);
    const perlHelper = renderHostFiles(testRecipe({ name: NAME })).files.find((f) => f.path === `/usr/lib/${NAME}/syscall-filter`)!;
    fs.writeFileSync(path.join(lib, 'syscall-filter'), perlHelper.content, { mode: 0o755 });
    nspawn = (await execa('sh', ['-c', 'command -v systemd-nspawn'], { env: { PATH } })).stdout.trim();
    lib1 = path.join(work, 'libseccomp.so.2.5.4');
    lib2 = path.join(work, 'libsystemd-shared-252.so');
    for (const l of [lib1, lib2]) fs.writeFileSync(l, 'a library\n');
  });

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('loads a usable stored chain, oldest first, and execs the program with SYSTEMD_SECCOMP=0', async () => {
    const file = store(header(''), chain(ALLOW, noAddKey(EPERM), noAddKey(EACCES)));
    expect((await check(file)).stdout).toBe('3 filters, 1 + 4 + 4 instructions');
    const r = await load(file);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual(['Seccomp_filters:\t3', 'SYSTEMD_SECCOMP=0', 'refused: Permission denied']);
    expect(r.exitCode).toBe(0);
  });

  it('reads the extra nspawn options word by word, as the Perl helper does', async () => {
    const file = store(header('--capability=CAP_NET_ADMIN --setenv=A=1'), chain(ALLOW));
    const spaced = ' --capability=CAP_NET_ADMIN \t  --setenv=A=1\n';
    expect((await check(file, spaced)).exitCode).toBe(0);
    expect((await load(file, spaced)).stdout.split('\n')[0]).toBe('Seccomp_filters:\t1');
  });

  const refused: [string, () => string, string?][] = [
    ['made with other extra options (stale)', () => store(header('--setenv=A=1'), chain(ALLOW))],
    [
      'made for another systemd-nspawn (stale)',
      () =>
        store(
          header('').replace(/nspawn=(\d+):(\d+):/, (_m, dev: string, ino: string) => `nspawn=${dev}:${BigInt(ino) + 1n}:`),
          chain(ALLOW),
        ),
    ],
    ['made on another architecture (stale)', () => store(header('', { arch: 'aarch64' }), chain(ALLOW))],
    ['made under another kernel (stale)', () => store(header('', { kernel: '6.1.0-0-other' }), chain(ALLOW))],
    [
      'made with a library nspawn loads that has been upgraded since (stale)',
      () => {
        const f = store(header(''), chain(ALLOW));
        // What an upgrade does: a new file renamed over the old one.
        fs.writeFileSync(`${lib1}.new`, 'the next version\n');
        fs.renameSync(`${lib1}.new`, lib1);
        return f;
      },
    ],
    [
      'made with a library nspawn loads that is gone since (stale)',
      () => store(header('', { libs: [lib2, path.join(work, 'libgone.so.1')] }).replace(/@-/, '@1:2:3:4:5'), chain(ALLOW)),
    ],
    ['missing', () => path.join(work, 'no-such-filter')],
    ['in an older format (stale)', () => store(`ebsf1 ${header('').slice(6)}`, chain(ALLOW))],
    ['not a filter file', () => store(`ELF ${header('').slice(6)}`, chain(ALLOW))],
    ['holding no filter', () => store(header(''))],
    ['damaged: a filter longer than the file', () => store(header(''), Buffer.concat([Buffer.from([0, 0, 0, 3]), ...ALLOW]))],
    ['damaged: an empty filter', () => store(header(''), Buffer.concat([chain(ALLOW), Buffer.from([0, 0, 0, 0])]))],
    ['writable by others', () => store(header(''), chain(ALLOW), 0o666)],
    [
      'not owned by root',
      () => {
        const f = store(header(''), chain(ALLOW));
        fs.chownSync(f, 65534, 65534);
        return f;
      },
    ],
    // Well formed, so check takes it; the kernel refuses it (no RET at the end).
    ['refused by the kernel', () => store(header(''), chain([insn(0x20, 0, 0, 0)])), 'loads'],
  ];
  for (const [what, make, checkTakesIt] of refused) {
    it(`refuses a stored chain ${what}, saying why, and lets nspawn compile its own`, async () => {
      const file = make();
      const verdict = await check(file);
      const why = checkTakesIt ? `loading filter 0 of ${file} failed: Invalid argument` : verdict.stderr.replace(`${NAME} syscall-filter: `, '').trim();
      expect(verdict.exitCode).toBe(checkTakesIt ? 0 : 1);
      const r = await load(file, '', ['/bin/sh', '-c', STATE]);
      expect(r.stderr).toBe(`${NAME} syscall-filter: ${why}; nspawn compiles its filter for this container`);
      expect(r.stdout.split('\n')).toEqual(['Seccomp_filters:\t0', 'SYSTEMD_SECCOMP=']);
      expect(r.exitCode).toBe(0);
    });
  }
});
