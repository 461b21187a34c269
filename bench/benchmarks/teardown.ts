// teardown: how long a connection keeps its slot of the socket after its client has gone, and the
// job rate GitLab Runner sustains at its limit, ours against a plain socket-activated `sshd -i`
// (the anchor) on the same booted host (bench/lib/product-host.ts).
//   slot: one connection at a time on an idle host (`ssh builder@127.0.0.1 true`), from the ssh
//     client's exit to systemd's "Deactivated successfully" of the connection's unit: that is when
//     the socket counts the connection no more (systemd releases the slot as the unit goes
//     inactive). One clock for both: the host shares this machine's kernel. Alternating.
//   rate: jobs at the runner's default limit (4 lanes) as test/e2e/product/runner-load.ts runs
//     them: a ControlMaster connection per job with three `bash -l` stages, a lane's next job
//     connecting the moment its last one ended. Ours with MaxConnections 8 as shipped (twice the
//     limit), the anchor with MaxConnections 4, the runner's limit, as the tutorial sets it. Wall
//     time for the jobs, and the connections each socket refused on the way.
// Target: report both, side by side.
import path from 'node:path';
import { alternate, ratioHeadline, seriesOf, type Benchmark } from '../lib/bench.ts';
import { ANCHOR_UNIT, PRODUCT, productHost, sshRun, waitIdle, type ProductHost } from '../lib/product-host.ts';
import type { Headline } from '../lib/results.ts';
import { percentile } from '../lib/stats.ts';
import { latencyCdfChart } from '../lib/svg.ts';
import { runBackToBack, type LoadReport } from '../../test/e2e/product/runner-load.ts';

/** systemd's catalog id of "Deactivated successfully" (SD_MESSAGE_UNIT_SUCCESS). */
const UNIT_SUCCESS = '7ad2d189f7e94e70a38c781354912448';
const LIMIT = 4;
const JOBS = 100;

const nowMs = () => performance.timeOrigin + performance.now();

/** One connection on an idle host: ms from its client's exit to its unit's deactivation. */
async function slotAfterExit(p: ProductHost, port: number, units: string): Promise<number> {
  await waitIdle(p);
  const start = nowMs();
  const r = await sshRun(p, port, 'true');
  if (r.exitCode !== 0) throw new Error(`ssh to port ${port}: exit ${r.exitCode}: ${r.stderr.slice(-300)}`);
  const exited = start + r.totalMs;
  for (let i = 0; i < 100; i++) {
    const out = await p.host.execOk(
      `journalctl --sync; journalctl -q -o json --output-fields=UNIT -u '${units}' MESSAGE_ID=${UNIT_SUCCESS} --since @${Math.floor(start / 1000) - 1}`,
    );
    const entry = out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { __REALTIME_TIMESTAMP: string })
      .find((e) => Number(e.__REALTIME_TIMESTAMP) / 1000 > start);
    if (entry) return Number(entry.__REALTIME_TIMESTAMP) / 1000 - exited;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`no unit of ${units} was deactivated within 10 s of a connection`);
}

/** Sets a socket's MaxConnections with a runtime drop-in (none: back to the unit's own). */
async function setMaxConnections(p: ProductHost, socket: string, max: number | undefined): Promise<void> {
  const dropIn = `/run/systemd/system/${socket}.d/bench-limit.conf`;
  await p.host.execOk(max === undefined ? `rm -f ${dropIn}` : `mkdir -p ${path.dirname(dropIn)} && printf '[Socket]\\nMaxConnections=${max}\\n' > ${dropIn}`);
  await p.host.execOk(`systemctl daemon-reload && systemctl restart ${socket}`);
}

export const teardown: Benchmark = {
  name: 'teardown',
  title: "How long a slot stays taken after the client disconnects, and the job rate at the runner's limit",
  anchor: 'a plain socket-activated sshd -i on the same host',
  async run(ctx) {
    const p = await productHost(ctx);
    const rounds = ctx.runs(40);
    const slots = await alternate(
      [
        {
          label: 'ours: slot taken after the client exited',
          role: 'ours',
          unit: 'ms',
          run: async () => ({ value: await slotAfterExit(p, p.port, `${PRODUCT}@*`) }),
        },
        {
          label: 'sshd -i: slot taken after the client exited',
          role: 'anchor',
          unit: 'ms',
          run: async () => ({ value: await slotAfterExit(p, p.anchorPort, `${ANCHOR_UNIT}@*`) }),
        },
      ],
      { rounds, warmup: 2, log: ctx.log, name: 'teardown' },
    );
    const [ours = [], anchor = []] = slots.series.map((s) => s.samples);

    // At the limit: ours as shipped (two slots per job), the anchor as the tutorial has it.
    const sockets = { ours: `${PRODUCT}.socket`, anchor: `${ANCHOR_UNIT}.socket` } as const;
    const runs: Record<'ours' | 'anchor', LoadReport[]> = { ours: [], anchor: [] };
    await setMaxConnections(p, sockets.ours, 2 * LIMIT);
    await setMaxConnections(p, sockets.anchor, LIMIT);
    try {
      for (let round = 0; round < 2; round++) {
        for (const side of ['ours', 'anchor'] as const) {
          await waitIdle(p, 120_000);
          const counter = async (property: string) => Number((await p.host.execOk(`systemctl show -P ${property} ${sockets[side]}`)).trim());
          const r = await runBackToBack({ port: side === 'ours' ? p.port : p.anchorPort, identity: p.key }, LIMIT, JOBS, counter);
          ctx.log(
            `teardown: ${side}: ${JOBS} jobs at limit ${LIMIT} in ${r.seconds} s (${(JOBS / r.seconds).toFixed(2)} jobs/s), ${r.refused.length} refused, ${r.failed.length} failed, socket refused ${r.refusedBySocket}`,
          );
          runs[side].push(r);
        }
      }
    } finally {
      await setMaxConnections(p, sockets.ours, undefined);
      await setMaxConnections(p, sockets.anchor, undefined);
    }
    const secondsOf = (side: 'ours' | 'anchor') => runs[side].map((r) => r.seconds);
    const refused = (side: 'ours' | 'anchor') => runs[side].reduce((n, r) => n + r.refused.length, 0);
    const failed = (side: 'ours' | 'anchor') => runs[side].reduce((n, r) => n + r.failed.length, 0);
    /** Jobs that ran to the end, per second of wall time. */
    const rate = (side: 'ours' | 'anchor') => (JOBS * runs[side].length - refused(side) - failed(side)) / secondsOf(side).reduce((a, b) => a + b, 0);

    const headlines: Headline[] = [
      {
        ...ratioHeadline('slot still taken after the client exited, p50', 'ms', percentile(ours, 50), percentile(anchor, 50), Infinity, 'report'),
        status: 'INFO',
      },
      {
        ...ratioHeadline('slot still taken after the client exited, p95', 'ms', percentile(ours, 95), percentile(anchor, 95), Infinity, 'report'),
        status: 'INFO',
      },
      {
        ...ratioHeadline(
          `${JOBS} jobs back to back at the runner's limit (${LIMIT}); ours ${rate('ours').toFixed(2)} jobs/s, ${refused('ours')} refused; sshd -i ${rate('anchor').toFixed(2)} jobs/s, ${refused('anchor')} refused`,
          's',
          percentile(secondsOf('ours'), 50),
          percentile(secondsOf('anchor'), 50),
          Infinity,
          'report',
        ),
        status: 'INFO',
      },
    ];
    const chart = ctx.writeChart(
      'teardown',
      latencyCdfChart(
        'Slot still taken after the client exited',
        'ms',
        [
          { label: 'ours (container torn down)', samples: ours },
          { label: 'sshd -i (process exits)', samples: anchor },
        ],
        (xs) => ({ p50: percentile(xs, 50), p95: percentile(xs, 95) }),
      ),
    );
    return {
      runs: rounds,
      headlines,
      series: [
        ...slots.series,
        seriesOf(`ours: ${JOBS} jobs at limit ${LIMIT} (MaxConnections ${2 * LIMIT})`, 'ours', 's', secondsOf('ours')),
        seriesOf(`sshd -i: ${JOBS} jobs at limit ${LIMIT} (MaxConnections ${LIMIT})`, 'anchor', 's', secondsOf('anchor')),
      ],
      notes: [
        "Slot: from the ssh client's exit (`ssh builder@127.0.0.1 true`, one connection on an idle host) to the journal's \"Deactivated successfully\" of its unit, which is when systemd stops counting the connection against MaxConnections. For ours that is sshd, the container's init and nspawn ending and the container torn down; for sshd -i, the process exiting. The client's exit is when node saw it, which on a busy machine can be a few ms after the server side was done: a slot freed within that shows as 0 or less.",
        `Rate: ${JOBS} jobs per run, ${runs.ours.length} runs a side, alternating; a job is a ControlMaster connection with three \`bash -l\` stages, and each of the ${LIMIT} lanes connects its next job the moment its last one ended, while that connection is being closed (test/e2e/product/runner-load.ts). Ours with MaxConnections ${2 * LIMIT}, as shipped; the anchor with MaxConnections ${LIMIT}, as the tutorial sets it. Refused: ours ${refused('ours')}, sshd -i ${refused('anchor')}; failed stages: ours ${failed('ours')}, sshd -i ${failed('anchor')}.`,
      ],
      charts: [chart],
    };
  },
};
