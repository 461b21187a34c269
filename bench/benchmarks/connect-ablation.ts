// connect-ablation: what each piece of connection-latency machinery saves per connection, in one
// run, on the booted host of the connect benchmark (bench/lib/product-host.ts). Each variant is
// our product as installed with ONE piece in its plain form; all of them alternate with the
// product as shipped and with the anchor, a plain socket-activated `sshd -i`, one connection at a
// time, each sample on an idle host, timed as connect times them (ssh … echo ok, spawn to first
// output). The pieces, and the plain form each is measured against:
//   (a) the compiled container-init (overlays/container-init/src/container-init.c): its shell form
//       (overlays/container-init/files/...), in a copy of the image (hard links) differing in
//       that file only;
//   (b) the stored system call filter: nspawn compiling its own (the stored file moved away);
//   (c) the compiled loader (host/src/syscall-filter-exec.c): the Perl helper loading the same
//       stored filter;
//   (d) the Perl helper's load-time tricks: the same helper written plainly (`use strict; use
//       warnings`, Errno's %!, POSIX's uname, Fcntl loaded at start), against (c); and (d1) only
//       its pragmas plain, the rest as shipped.
// And every piece in its plain form but the stored filter: what remains when (a), (c) and (d) go.
// The state is switched between samples, untimed, by a script in the host; before timing, one
// connection per variant shows that it runs the container-init it should, under as many system
// call filters as the shipped product; afterwards the journal must hold no filter fallback and
// no Perl warning, and the host is put back as it was. A piece's saving is the p50 of its plain
// form minus the p50 of the form with the piece, with a bootstrap interval.
// Target: a piece is kept where it saves at least 10 ms at p50; p50 within 1.25 × the anchor.
import fs from 'node:fs';
import path from 'node:path';
import { alternate, ratioHeadline, seriesOf, type Alternated, type Benchmark, type Side } from '../lib/bench.ts';
import { CONTAINER_INIT } from '../../pipeline/image-contract.ts';
import { PRODUCT, productHost, sshRun, waitIdle, type ProductHost } from '../lib/product-host.ts';
import { REPO } from '../lib/paths.ts';
import type { Headline, Series } from '../lib/results.ts';
import { medianDifferenceInterval, percentile } from '../lib/stats.ts';
import { latencyCdfChart } from '../lib/svg.ts';

const KEEP_MS = 10;
const TARGET = 1.25;
const LIB = `/usr/lib/${PRODUCT}`;
const STATE_DIR = `/var/lib/${PRODUCT}`;
/** Where the benchmark keeps what it swaps in and out, inside the host. */
const STASH = '/root/eb-ablation';
const SHELL_IMAGE = 'ablation-shell-init';
const SHELL_INIT = path.join(REPO, 'overlays/container-init/files', CONTAINER_INIT);

type Init = 'compiled' | 'shell';
type Filter = 'stored' | 'none';
type Loader = 'c' | 'tricks' | 'pragmas' | 'plain';
interface Variant { key: string; label: string; init: Init; filter: Filter; loader: Loader }

const VARIANTS: Variant[] = [
  { key: 'shipped', label: 'ours as shipped (compiled container-init, stored filter, compiled loader)', init: 'compiled', filter: 'stored', loader: 'c' },
  { key: 'a', label: '(a) container-init in its shell form', init: 'shell', filter: 'stored', loader: 'c' },
  { key: 'b', label: '(b) no stored filter: nspawn compiles its own', init: 'compiled', filter: 'none', loader: 'c' },
  { key: 'c', label: '(c) the Perl helper loads the stored filter (as shipped)', init: 'compiled', filter: 'stored', loader: 'tricks' },
  { key: 'd1', label: '(d1) the Perl helper with use strict; use warnings', init: 'compiled', filter: 'stored', loader: 'pragmas' },
  { key: 'd', label: '(d) the Perl helper written plainly', init: 'compiled', filter: 'stored', loader: 'plain' },
  { key: 'plain', label: 'all plain but the stored filter (shell container-init, plain Perl helper)', init: 'shell', filter: 'stored', loader: 'plain' },
];

/** Each piece: the variant without it, the variant with it. */
const PIECES = [
  { what: '(a) compiled container-init vs its shell form', without: 'a', with: 'shipped' },
  { what: '(b) stored system call filter vs nspawn compiling its own', without: 'b', with: 'shipped' },
  { what: '(c) compiled loader (syscall-filter-exec) vs the Perl helper', without: 'c', with: 'shipped' },
  { what: '(d) the Perl helper\'s load-time tricks vs the helper written plainly', without: 'd', with: 'c' },
  { what: '(d1) strict\'s bits in $^H and no warnings vs use strict; use warnings', without: 'd1', with: 'c' },
] as const;

/** Replaces `from` in `text`, which must hold it exactly once: a changed helper must fail here, not measure something else. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`syscall-filter: expected exactly one ${JSON.stringify(from)}; the plain forms below need updating`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** The shipped Perl helper with its pragmas plain: strict.pm and warnings.pm loaded as usual. */
function pragmasPlain(shipped: string): string {
  return replaceOnce(shipped, 'BEGIN { $^H |= 0x602 }', 'use strict;\nuse warnings;');
}

/** The helper as it would be written without regard to its load time. */
function writtenPlainly(shipped: string): string {
  let s = pragmasPlain(shipped);
  s = replaceOnce(s, 'my ($ENOENT, $EACCES) = (2, 13);', 'use Errno ();\nuse Fcntl ();\nuse POSIX ();');
  s = replaceOnce(s, '$! == $EACCES', '$!{EACCES}');
  s = replaceOnce(s, '$! == $ENOENT', '$!{ENOENT}');
  s = replaceOnce(s, 'my $buf = "\\0" x (6 * 65);\n\tsyscall($SYS_UNAME, $buf) == 0 or fail("uname: $!");\n\tmy (undef, undef, $release, undef, $machine) = unpack(\'Z65 Z65 Z65 Z65 Z65\', $buf);',
    'my (undef, undef, $release, undef, $machine) = POSIX::uname();');
  return s;
}

/** The script that puts the host in a variant's state: `state INIT FILTER LOADER`. */
function stateScript(version: string): string {
  return `#!/bin/sh
set -eu
case "$1" in
compiled) image=${version} ;;
shell) image=${SHELL_IMAGE} ;;
esac
ln -sfn "../../..${LIB}/images/$image" ${STATE_DIR}/current
case "$2" in
stored) [ -e ${STATE_DIR}/syscall-filter ] || mv ${STASH}/stored-filter ${STATE_DIR}/syscall-filter ;;
none) [ ! -e ${STATE_DIR}/syscall-filter ] || mv ${STATE_DIR}/syscall-filter ${STASH}/stored-filter ;;
esac
case "$3" in
c) chmod 0755 ${LIB}/syscall-filter-exec; ln -f ${STASH}/syscall-filter.tricks ${LIB}/syscall-filter ;;
*) chmod 0644 ${LIB}/syscall-filter-exec; ln -f ${STASH}/syscall-filter.$3 ${LIB}/syscall-filter ;;
esac
`;
}

const stateArgs = (v: Variant) => `${v.init} ${v.filter} ${v.loader}`;

/** Lays out the variants' files in the host; returns how to put it back as it was. */
async function prepare(p: ProductHost): Promise<() => Promise<void>> {
  const { host } = p;
  const current = (await host.execOk(`readlink ${STATE_DIR}/current`)).trim();
  if (!current.endsWith(`/images/${p.installed}`)) throw new Error(`${STATE_DIR}/current is ${current}, not the installed ${p.installed}`);
  if (!fs.existsSync(host.path(`${LIB}/syscall-filter-exec`))) throw new Error(`${LIB}/syscall-filter-exec is missing: the compiled loader is what (c) measures`);
  await host.execOk(`rm -rf ${STASH} && mkdir -m 0700 ${STASH} && cp -p ${LIB}/syscall-filter ${STASH}/syscall-filter.tricks`);
  const shipped = fs.readFileSync(host.path(`${STASH}/syscall-filter.tricks`), 'utf8');
  host.writeFile(`${STASH}/syscall-filter.pragmas`, pragmasPlain(shipped), 0o755);
  host.writeFile(`${STASH}/syscall-filter.plain`, writtenPlainly(shipped), 0o755);
  host.writeFile(`${STASH}/state`, stateScript(p.installed), 0o755);
  for (const f of ['pragmas', 'plain']) await host.execOk(`perl -c ${STASH}/syscall-filter.${f}`);
  // The image with the shell form: hard links to the installed image but for container-init.
  const image = `${LIB}/images/${SHELL_IMAGE}`;
  await host.execOk(`rm -rf ${image} && cp -al ${LIB}/images/${p.installed} ${image} && rm ${image}${CONTAINER_INIT}`);
  host.writeFile(`${image}${CONTAINER_INIT}`, fs.readFileSync(SHELL_INIT), 0o755);
  return async () => {
    await host.execOk(`${STASH}/state compiled stored c && ln -sfn ${current} ${STATE_DIR}/current && rm -rf ${image} ${STASH}`);
  };
}

/** One connection per variant, untimed: the container-init it runs and its number of system call filters. */
async function check(p: ProductHost): Promise<string[]> {
  const lines: string[] = [];
  let filters: string | undefined;
  for (const v of VARIANTS) {
    await p.host.execOk(`${STASH}/state ${stateArgs(v)}`);
    await waitIdle(p);
    const r = await sshRun(p, p.port, `sed -n 's/^Seccomp_filters:[[:space:]]*//p' /proc/self/status; head -c 2 ${CONTAINER_INIT} | od -An -tx1`);
    const [count, magic] = r.stdout.trim().split('\n').map((l) => l.trim());
    const form = magic === '23 21' ? 'shell' : magic === '7f 45' ? 'compiled' : `unknown (${magic})`;
    if (r.exitCode !== 0 || form !== v.init || !count || Number(count) < 1) throw new Error(`variant ${v.key}: exit ${r.exitCode}, container-init ${form} (want ${v.init}), ${count} filters: ${r.stderr.slice(-300)}`);
    filters ??= count;
    if (count !== filters) throw new Error(`variant ${v.key} runs under ${count} system call filters, the shipped product under ${filters}`);
    lines.push(`${v.key}: container-init ${form}, ${count} filters`);
  }
  return lines;
}

/** Start and exit of one container without ssh (spawn --exec /bin/true), per variant, alternating, timed inside the host (ms). */
async function containerStartExit(p: ProductHost, n: number): Promise<Record<string, number[]>> {
  const loop = VARIANTS.map((v) => `${STASH}/state ${stateArgs(v)}; s=$(date +%s%N); ${LIB}/spawn --exec /bin/true </dev/null >/dev/null 2>&1 || echo fail; e=$(date +%s%N); echo "${v.key} $(( (e - s) / 1000 ))"`).join('\n');
  const out = await p.host.execOk(`for i in $(seq ${n}); do\n${loop}\ndone`, { timeoutMs: 15 * 60_000 });
  if (out.includes('fail')) throw new Error(`spawn --exec /bin/true failed inside the host:\n${out}`);
  const times: Record<string, number[]> = Object.fromEntries(VARIANTS.map((v) => [v.key, []]));
  for (const line of out.trim().split('\n')) {
    const [key, us] = line.split(' ') as [string, string];
    times[key]?.push(Number(us) / 1000);
  }
  return times;
}

export const connectAblation: Benchmark = {
  name: 'connect-ablation',
  title: 'What each piece of connection-latency machinery saves per connection (ssh … echo ok)',
  anchor: 'a plain socket-activated sshd -i on the same host, and each piece\'s plain form',
  async run(ctx) {
    const p = await productHost(ctx);
    const n = ctx.runs(300);
    const restore = await prepare(p);
    const since = (await p.host.execOk('date +%s')).trim();
    let main: Alternated;
    let container: Record<string, number[]>;
    let checked: string[];
    try {
      checked = await check(p);
      ctx.log(`connect-ablation: ${checked.join('; ')}`);
      const echoOk = async (port: number) => {
        const r = await sshRun(p, port, 'echo ok');
        if (r.exitCode !== 0 || r.stdout.trim() !== 'ok') {
          const units = (await p.host.exec(`systemctl list-units --no-legend --plain '${PRODUCT}*'`)).stdout;
          throw new Error(`ssh to port ${port}: exit ${r.exitCode}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr.slice(-400))}\nunits:\n${units}\njournal:\n${await p.host.journal(80)}`);
        }
        return { value: r.firstOutputMs };
      };
      // Every side switches state and waits for an idle host before its sample, untimed; the
      // anchor too (into the shipped state), so that each sample follows the same commands.
      const side = (label: string, role: Series['role'], state: string, port: number): Side => ({
        label, role, unit: 'ms',
        before: async () => { await p.host.execOk(`${STASH}/state ${state}`); await waitIdle(p); },
        run: () => echoOk(port),
      });
      const sides = [
        side('sshd -i (anchor)', 'anchor', stateArgs(VARIANTS[0]!), p.anchorPort),
        ...VARIANTS.map((v) => side(v.label, v.key === 'shipped' ? 'ours' : 'info', stateArgs(v), p.port)),
      ];
      ctx.log(`connect-ablation: ${sides.length} sides, ${n} rounds`);
      main = await alternate(sides, { rounds: n, warmup: 3, log: ctx.log, name: 'connect-ablation' });
      container = await containerStartExit(p, 60);
    } finally {
      await restore();
    }
    const journal = await p.host.exec(`journalctl -q --since @${since} -u '${PRODUCT}@*' | grep -E 'nspawn compiles its filter|syscall-filter line [0-9]+|syscall-filter-exec:' | head -5`);
    if (journal.stdout.trim()) throw new Error(`a connection did not take the path its variant measures:\n${journal.stdout}`);

    const [anchor, ...ours] = main.series as [Series, ...Series[]];
    const byKey = new Map(VARIANTS.map((v, i) => [v.key, ours[i] as Series]));
    const get = (key: string) => byKey.get(key) as Series;
    const shipped = get('shipped');
    const plain = get('plain');
    const savings = PIECES.map((piece) => {
      const without = get(piece.without).samples;
      const withIt = get(piece.with).samples;
      const saving = percentile(without, 50) - percentile(withIt, 50);
      const [lo, hi] = medianDifferenceInterval(without, withIt);
      const start = percentile(container[piece.without]!, 50) - percentile(container[piece.with]!, 50);
      return { ...piece, saving, lo, hi, start };
    });
    const headlines: Headline[] = [
      ...savings.map((s): Headline => ({
        metric: `${s.what}: saved per connection, p50 (95 % interval ${s.lo.toFixed(1)} to ${s.hi.toFixed(1)} ms)`,
        unit: 'ms', ours: s.saving, ratio: s.saving / KEEP_MS, target: `≥ ${KEEP_MS} ms to keep`, status: s.saving >= KEEP_MS ? 'PASS' : 'MISS',
      })),
      ratioHeadline('ours as shipped, connect to first output, p50', 'ms', shipped.summary.median, anchor.summary.median, TARGET, `≤ ${TARGET}×`),
      ratioHeadline('all plain but the stored filter, connect to first output, p50', 'ms', plain.summary.median, anchor.summary.median, TARGET, `≤ ${TARGET}×`),
    ];
    const containerSeries = VARIANTS.map((v) => seriesOf(`container start + exit without ssh (spawn --exec /bin/true, inside the host): ${v.label}`, 'info', 'ms', container[v.key]!));
    const chart = ctx.writeChart('connect-ablation', latencyCdfChart('Connect to first output, each piece in its plain form', 'ms',
      [anchor, ...ours].map((s) => ({ label: s.label, samples: s.samples })), (xs) => ({ p50: percentile(xs, 50), p95: percentile(xs, 95) })));
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    return {
      runs: n,
      headlines,
      series: [anchor, ...ours, ...containerSeries],
      notes: [
        `Host: Debian 13 booted with systemd-nspawn -b on this machine, ${PRODUCT} ${p.installed} installed with dpkg -i (recipes/minimal.ts, amd64: compiled container-init and loader); the anchor is the host's own OpenSSH as \`sshd -i\` behind an Accept=yes socket with our image's sshd settings, keys and user. ${VARIANTS.length + 1} sides alternate in every round (anchor first), ${n} rounds after 3 warm-up rounds; before each sample, untimed, the host is switched into the side's state and waits until no connection's unit is left.`,
        `Checked before timing, one connection each: ${checked.join('; ')}. After timing, the journal of the connections holds no filter fallback (nspawn compiling where a stored filter was meant), no Perl warning and no message of the compiled loader.`,
        `Saved per connection at p50 (plain form minus the form with the piece; in brackets the same for a container's start and exit inside the host, no ssh, 60 each, alternating): ${savings.map((s) => `${s.what} ${ms(s.saving)} [${ms(s.start)}]`).join('; ')}. Kept where the saving is at least ${KEEP_MS} ms.`,
        `The plain Perl helper: \`use strict; use warnings\` instead of strict's bits set in $^H, Errno's %! instead of errno numbers, POSIX::uname instead of the uname system call, Fcntl loaded at start instead of when a filter is written; (d1) changes the pragmas only.`,
      ],
      charts: [chart],
    };
  },
};
