// ctl-use: `<name>ctl use VERSION` (the atomic switch of /var/lib/<name>/current) timed inside the
// booted host, switching between two installed image versions, and rollback through apt: the two
// versions published to a signed repository (pipeline/publish), served on loopback and added the
// admin way; then `apt-get install --allow-downgrades <name>=1.0.0` and back to 1.1.0.
// Targets: `use` under 100 ms; apt times reported.
import fs from 'node:fs';
import path from 'node:path';
import { publish } from '../../pipeline/publish/publish.ts';
import { addAptSource, APT_ENV, makeSigningKey } from '../../test/e2e/harness/index.ts';
import { serveDirectory } from '../../test/helpers/http-server.ts';
import { limitHeadline, seriesOf, type Benchmark } from '../lib/bench.ts';
import { load1 } from '../lib/machine.ts';
import { WORK } from '../lib/paths.ts';
import { installVersion, PRODUCT, productHost, sshRun, type ProductHost } from '../lib/product-host.ts';
import type { Headline } from '../lib/results.ts';
import { median } from '../lib/stats.ts';

/** Runs `command` inside the host and returns its wall time in ms, measured inside the host. */
async function timedInside(p: ProductHost, command: string, timeoutMs = 10 * 60_000): Promise<number> {
  const out = await p.host.execOk(
    `s=$(date +%s%N); ${command} >/tmp/eb-bench-cmd.log 2>&1 || { cat /tmp/eb-bench-cmd.log; exit 1; }; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`,
    { timeoutMs, env: APT_ENV },
  );
  return Number(out.trim().split('\n').at(-1)) / 1000;
}

async function current(p: ProductHost): Promise<string> {
  return path.basename((await p.host.execOk(`readlink /var/lib/${PRODUCT}/current`)).trim());
}

export const ctlUse: Benchmark = {
  name: 'ctl-use',
  title: `${PRODUCT}ctl use (switch image) and rollback through apt`,
  anchor: '— (absolute target for use; apt times reported)',
  async run(ctx) {
    const p = await productHost(ctx);
    if (p.installed !== '1.1.0') await installVersion(p, '1.1.0', ctx.log);
    const rounds = ctx.runs(10);
    const use: number[] = [];
    const loads: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const to = i % 2 === 0 ? '1.0.0' : '1.1.0';
      loads.push(load1());
      use.push(await timedInside(p, `${PRODUCT}ctl use ${to}`));
      const now = await current(p);
      if (now !== to) throw new Error(`after ${PRODUCT}ctl use ${to}, current is ${now}`);
    }
    // The profile: how many processes one `use` starts (the PID counter of the host's namespace,
    // nothing else running there), and what one fork + exec of /bin/true costs, timed the same way.
    const forks: number[] = [];
    for (const to of ['1.0.0', '1.1.0']) {
      const out = await p.host.execOk(
        `a=$(cut -d' ' -f5 /proc/loadavg); ${PRODUCT}ctl use ${to} >/dev/null; b=$(cut -d' ' -f5 /proc/loadavg); echo $((b - a - 1))`,
      );
      forks.push(Number(out.trim()));
    }
    const trueMs: number[] = [];
    for (let i = 0; i < 10; i++) trueMs.push(await timedInside(p, '/bin/true'));
    // New connections get the version just selected.
    await timedInside(p, `${PRODUCT}ctl use 1.0.0`);
    const probe = await sshRun(p, p.port, 'echo ok');
    if (probe.exitCode !== 0) throw new Error(`a connection after use 1.0.0 failed: ${probe.stderr}`);
    const spawnLine = (await p.host.exec(`journalctl --no-pager -n 50 -o cat | grep 'spawn: connection' | tail -1`)).stdout.trim();
    ctx.log(`ctl-use: ${PRODUCT}ctl use median ${median(use).toFixed(1)} ms; last connection: ${spawnLine}`);

    // Rollback through apt.
    const repo = path.join(WORK, 'product', 'repo');
    fs.rmSync(repo, { recursive: true, force: true });
    const key = await makeSigningKey('ephemeral-builder bench repository <bench@example.invalid>');
    const server = await serveDirectory(repo);
    ctx.shared.set('dispose:apt-repo', async () => {
      await server.close();
      await key.dispose();
    });
    const debs = Object.values(p.builds).flatMap((b) => [b.imageDeb, b.hostDeb]);
    await publish({ repoDir: repo, gnupgHome: key.gnupgHome, debs, sourcesUri: server.url });
    addAptSource(p.host, { repoDir: repo, name: PRODUCT, uri: server.url });
    const update = await timedInside(p, 'apt-get update');
    const apt = { downgrade: [] as number[], upgrade: [] as number[] };
    const aptRounds = Math.max(1, Math.min(3, rounds));
    for (let i = 0; i < aptRounds; i++) {
      apt.downgrade.push(await timedInside(p, `apt-get install -y --allow-downgrades ${PRODUCT}=1.0.0`));
      if ((await current(p)) !== '1.0.0') throw new Error(`apt downgrade to 1.0.0 left current at ${await current(p)}`);
      apt.upgrade.push(await timedInside(p, `apt-get install -y ${PRODUCT}=1.1.0`));
      if ((await current(p)) !== '1.1.0') throw new Error(`apt upgrade to 1.1.0 left current at ${await current(p)}`);
      ctx.log(`ctl-use: apt round ${i + 1}: downgrade ${apt.downgrade.at(-1)?.toFixed(0)} ms, upgrade ${apt.upgrade.at(-1)?.toFixed(0)} ms`);
    }
    // Rolling back to an image that is no longer on disk: apt downloads and unpacks it too.
    await timedInside(p, `${PRODUCT}ctl use 1.1.0`);
    await p.host.execOk(`dpkg --purge ${PRODUCT}-image-1.0.0`, { env: APT_ENV });
    const coldRollback = await timedInside(p, `apt-get install -y --allow-downgrades ${PRODUCT}=1.0.0`);
    if ((await current(p)) !== '1.0.0') throw new Error('apt rollback with download did not switch current');
    p.installed = '1.0.0';
    const imageKB = Math.round(fs.statSync(p.builds['1.0.0']?.imageDeb ?? '').size / 1000);

    const headlines: Headline[] = [
      limitHeadline(`${PRODUCT}ctl use VERSION (median)`, 'ms', median(use), 100, '< 100 ms'),
      { metric: 'apt rollback (downgrade, image still installed), median', unit: 'ms', ours: median(apt.downgrade), target: 'report', status: 'INFO' },
      {
        metric: `apt rollback to an image no longer installed (downloads its ${imageKB} kB .deb)`,
        unit: 'ms',
        ours: coldRollback,
        target: 'report',
        status: 'INFO',
      },
    ];
    return {
      runs: rounds,
      headlines,
      series: [
        seriesOf(`${PRODUCT}ctl use (inside the host)`, 'ours', 'ms', use, loads),
        seriesOf(`apt-get install --allow-downgrades ${PRODUCT}=1.0.0 (image installed)`, 'info', 'ms', apt.downgrade),
        seriesOf(`apt-get install ${PRODUCT}=1.1.0 (back up)`, 'info', 'ms', apt.upgrade),
        seriesOf('one fork + exec of /bin/true (inside the host, same timing)', 'info', 'ms', trueMs),
        seriesOf('apt rollback, image downloaded and unpacked', 'info', 'ms', [coldRollback]),
        seriesOf('apt-get update (repository on loopback)', 'info', 'ms', [update]),
      ],
      notes: [
        `Timed inside the booted host (date +%s%N around the command), so nsenter's own start-up is not counted. Both image packages stay installed side by side; \`use\` alternates between 1.0.0 and 1.1.0 and each switch is checked (readlink of /var/lib/${PRODUCT}/current). Image: recipes/minimal.ts built with --fast.`,
        `Profile: one \`${PRODUCT}ctl use\` starts about ${median(forks)} processes (cut, readlink, ln, mv... counted by the host's PID counter), and one fork + exec of /bin/true costs ${median(trueMs).toFixed(1)} ms here (median), so process start-up under this load accounts for most of it; the switch itself is one rename.`,
        `apt: the repository is published with pipeline/publish (signed; the host trusts it through Signed-By, no trusted=yes) and served over loopback HTTP. The downgrade switches the host package only (the 1.0.0 image package is still installed), so it is dpkg's unpack, the maintainer scripts and the socket restart.`,
      ],
      charts: [],
    };
  },
};
