// parallel: 8, 16 and 32 connections opened at once, each running a short job (a little CPU work
// and git, then "done"), against one connection at a time running the same job. Each connection is
// timed from spawning ssh to its exit; every one must succeed. Three bursts per size, interleaved
// with single connections. The anchor sshd -i gets one burst per size, for context.
// Target: all succeed, and p95 of a burst at most 3 × a single connection (median).
import { limitHeadline, seriesOf, type Benchmark } from '../lib/bench.ts';
import { load1 } from '../lib/machine.ts';
import { PRODUCT, productHost, sshRun, waitIdle, type ProductHost } from '../lib/product-host.ts';
import type { Headline, Series } from '../lib/results.ts';
import { median, percentile } from '../lib/stats.ts';
import { latencyCdfChart } from '../lib/svg.ts';

const JOB = 'echo start; seq 1 200000 | sha256sum >/dev/null; git --version >/dev/null; echo done';
const SIZES = [8, 16, 32];

interface Burst {
  ms: number[];
  failures: string[];
}

async function burst(p: ProductHost, port: number, n: number): Promise<Burst> {
  const results = await Promise.all(Array.from({ length: n }, () => sshRun(p, port, JOB, 300_000)));
  const failures = results
    .filter((r) => r.exitCode !== 0 || !r.stdout.includes('done'))
    .map((r) => `exit ${r.exitCode}: ${(r.stderr.trim().split('\n').at(-1) ?? '').slice(0, 200)}`);
  return { ms: results.map((r) => r.totalMs), failures };
}

export const parallel: Benchmark = {
  name: 'parallel',
  title: 'Parallel connections (8, 16, 32 at once), each running a short job',
  anchor: 'one connection at a time running the same job',
  async run(ctx) {
    const p = await productHost(ctx);
    const rounds = ctx.runs(5);
    const single: number[] = [];
    const singleLoads: number[] = [];
    const bySize = new Map<number, { ms: number[]; failures: string[]; loads: number[] }>(SIZES.map((n) => [n, { ms: [], failures: [], loads: [] }]));
    await waitIdle(p);
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 3; i++) {
        singleLoads.push(load1());
        const r = await sshRun(p, p.port, JOB);
        if (r.exitCode !== 0 || !r.stdout.includes('done')) throw new Error(`a single connection failed: exit ${r.exitCode}: ${r.stderr}`);
        single.push(r.totalMs);
      }
      await waitIdle(p);
      for (const n of SIZES) {
        const acc = bySize.get(n) as { ms: number[]; failures: string[]; loads: number[] };
        acc.loads.push(load1());
        const b = await burst(p, p.port, n);
        acc.ms.push(...b.ms);
        acc.failures.push(...b.failures);
        ctx.log(
          `parallel: round ${round + 1}/${rounds}: ${n} at once: p50 ${median(b.ms).toFixed(0)} ms, p95 ${percentile(b.ms, 95).toFixed(0)} ms, ${b.failures.length} failed (single median so far ${median(single).toFixed(0)} ms)`,
        );
        await waitIdle(p, 120_000);
      }
    }
    const anchorBursts = new Map<number, Burst>();
    for (const n of SIZES) {
      anchorBursts.set(n, await burst(p, p.anchorPort, n));
      await waitIdle(p, 120_000);
    }
    const anchorSingle: number[] = [];
    for (let i = 0; i < 5; i++) anchorSingle.push((await sshRun(p, p.anchorPort, JOB)).totalMs);

    const singleMedian = median(single);
    const series: Series[] = [seriesOf('ours: one connection', 'anchor', 'ms', single, singleLoads)];
    const headlines: Headline[] = [];
    for (const n of SIZES) {
      const acc = bySize.get(n) as { ms: number[]; failures: string[]; loads: number[] };
      series.push(seriesOf(`ours: ${n} at once`, 'ours', 'ms', acc.ms));
      const h = limitHeadline(
        `${n} at once: p95 vs one connection (median); ${acc.ms.length - acc.failures.length}/${acc.ms.length} succeeded`,
        'ms',
        percentile(acc.ms, 95),
        3 * singleMedian,
        'all succeed, p95 ≤ 3×',
      );
      const ratio = percentile(acc.ms, 95) / singleMedian;
      headlines.push({ ...h, anchor: singleMedian, ratio, status: acc.failures.length ? 'MISS' : ratio <= 3 ? 'PASS' : 'MISS' });
    }
    series.push(seriesOf('sshd -i: one connection', 'info', 'ms', anchorSingle));
    for (const n of SIZES) series.push(seriesOf(`sshd -i: ${n} at once`, 'info', 'ms', anchorBursts.get(n)?.ms ?? []));
    const chart = ctx.writeChart(
      'parallel',
      latencyCdfChart(
        'Parallel connections, each running a short job: connect to exit',
        'ms',
        [
          { label: 'ours: one connection', samples: single },
          ...SIZES.map((n) => ({ label: `ours: ${n} at once`, samples: bySize.get(n)?.ms ?? [] })),
          { label: 'sshd -i: 32 at once (no container)', samples: anchorBursts.get(32)?.ms ?? [] },
        ],
        (xs) => ({ p50: percentile(xs, 50), p95: percentile(xs, 95) }),
      ),
    );
    const failures = SIZES.flatMap((n) => (bySize.get(n)?.failures ?? []).map((f) => `${n}: ${f}`));
    return {
      runs: rounds,
      headlines,
      series,
      notes: [
        `Job on each connection: \`${JOB}\`. Timed from spawning ssh to its exit. ${PRODUCT}.socket has MaxConnections=64, so no connection is refused by the limit.`,
        `The machine has 2 CPUs shared with the booted host, its containers and all ${Math.max(...SIZES)} ssh clients; a burst's p95 is bounded by CPU time: every connection's container set-up and key exchange compete for the same 2 cores.`,
        failures.length ? `Failures: ${failures.slice(0, 10).join('; ')}` : 'Every connection succeeded.',
      ],
      charts: [chart],
      details: { anchorFailures: SIZES.map((n) => anchorBursts.get(n)?.failures ?? []) },
    };
  },
};
