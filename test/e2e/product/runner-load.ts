// GitLab Runner at its limit, as it drives a host: `limit` lanes, each running jobs back to back.
// A job is one SSH connection (a ControlMaster, as the SSH executor keeps one connection per job)
// with a `bash -l` session per stage, the stage's script on stdin and no pty; when the last stage
// is done the connection closes, and the lane's next job connects at once, while the host is still
// tearing the finished job's container down. The host must serve every one of them: a refused or
// reset connection is a job the runner fails. Also the bench's job-rate measurement (bench/
// benchmarks/teardown.ts), against our socket and a plain sshd -i.
import { Multiplexed, type SshTarget } from './ssh.ts';

/** Three stages, each its own `bash -l` session, as the runner's prepare, step and cleanup. */
const STAGE_SCRIPTS = ['echo "Running on $(hostname)"\n', 'set -eo pipefail\nseq 1 2000 | sha256sum | cut -c1-8\n', 'rm -rf "$HOME/builds"\necho cleaned\n'];

export interface LoadReport {
  jobs: number;
  seconds: number;
  /** Jobs whose connection the host refused or reset before the session started. */
  refused: string[];
  /** Jobs that connected but a stage failed. */
  failed: string[];
  /** The most connections the socket counted at once while the jobs ran (sampled). */
  peakConnections: number;
  /** The socket's NRefused before and after. */
  refusedBySocket: number;
}

const since = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;

/** A counter of the socket the jobs connect to: `systemctl show -P <property> <socket>` on its host. */
export type SocketCounter = (property: 'NRefused' | 'NConnections') => Promise<number>;

/** One job: connect, run the stages; returns the connection, still open, or undefined if refused. */
async function job(target: SshTarget, report: LoadReport): Promise<Multiplexed | undefined> {
  let m: Multiplexed;
  try {
    m = await Multiplexed.open(target, 60_000);
  } catch (err) {
    report.refused.push((err as Error).message.split('\n')[0]!);
    return undefined;
  }
  for (const [i, script] of STAGE_SCRIPTS.entries()) {
    const r = await m.run('bash -l', { input: script, timeoutMs: 60_000 });
    if (r.exitCode !== 0 || r.stderr !== '') {
      report.failed.push(`stage ${i}: exit ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
      break;
    }
  }
  return m;
}

/**
 * Runs `jobs` jobs on `lanes` lanes. A lane's next job connects the moment its last job's last
 * stage is done, while that job's connection is being closed, as the runner goes on to its next
 * job without waiting for the host to tear the last one down.
 */
export async function runBackToBack(target: SshTarget, lanes: number, jobs: number, socketCounter: SocketCounter): Promise<LoadReport> {
  const report: LoadReport = { jobs: 0, seconds: 0, refused: [], failed: [], peakConnections: 0, refusedBySocket: 0 };
  const refusedBefore = await socketCounter('NRefused');
  let running = true;
  const sampler = (async () => {
    while (running) {
      report.peakConnections = Math.max(report.peakConnections, await socketCounter('NConnections').catch(() => 0));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const closing: Promise<void>[] = [];
  const t0 = performance.now();
  let started = 0;
  try {
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (started < jobs) {
          started++;
          const m = await job(target, report);
          report.jobs++;
          if (m) closing.push(m.close());
        }
      }),
    );
  } finally {
    await Promise.allSettled(closing);
    report.seconds = since(t0);
    running = false;
    await sampler;
  }
  report.refusedBySocket = (await socketCounter('NRefused')) - refusedBefore;
  return report;
}
