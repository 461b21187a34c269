// A booted Debian 13 host (test/e2e/harness: makeHostTree, bootHost) with our product installed
// the way an admin installs the .debs (`dpkg -i`), and next to it the anchor of the connection
// benchmarks: a plain socket-activated `sshd -i` (Accept=yes socket, one `sshd -i` per
// connection) of the host's own OpenSSH, with the same sshd settings as our image (the sshd
// overlay's drop-in), the same host keys, the same authorized key and a `builder` user.
// Shared by the connect, parallel and ctl-use benchmarks; made once per invocation.
//
// The product is recipes/minimal.ts renamed "ebbench", on a free loopback port, with
// limits.maxConnections 64 (the parallel benchmark opens 32 at once), built with --fast as
// versions 1.0.0 and 1.1.0 (ctl-use switches between them).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { KEY_DIR } from '../../pipeline/image-contract.ts';
import { sshdDropIn } from '../../overlays/sshd/overlay.ts';
import { bootHost, freeLoopbackPort, machineName, makeHostTree, type BootedHost } from '../../test/e2e/harness/index.ts';
import type { BenchContext } from './bench.ts';
import { cliBuild } from './cli-build.ts';
import { MINIMAL_RECIPE, variantRecipe } from './fixtures.ts';
import { BENCH_CACHE, WORK } from './paths.ts';

export const PRODUCT = 'ebbench';
export const USER = 'builder';
export const VERSIONS = ['1.0.0', '1.1.0'] as const;
export const ANCHOR_UNIT = 'eb-bench-anchor';
const ANCHOR_CONFIG = '/etc/eb-bench-anchor/sshd_config';

export interface ProductBuild {
  version: string;
  imageDeb: string;
  hostDeb: string;
}

export interface ProductHost {
  host: BootedHost;
  port: number;
  anchorPort: number;
  /** The runner's private key, copied out of the host (ours and the anchor accept it). */
  key: string;
  builds: Record<string, ProductBuild>;
  /** The version whose host package is installed now. */
  installed: string;
  log: string[];
}

const KEY = 'product-host';

/** Builds both versions, boots the host, installs 1.0.0 and sets up the anchor. */
export async function productHost(ctx: BenchContext): Promise<ProductHost> {
  const hit = ctx.shared.get(KEY) as ProductHost | undefined;
  if (hit) return hit;
  const dir = path.join(WORK, 'product');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const port = await freeLoopbackPort();
  const recipe = variantRecipe('product', MINIMAL_RECIPE, { name: PRODUCT, ssh: { listenAddress: '127.0.0.1', port }, limits: { maxConnections: 64 } });
  const builds: Record<string, ProductBuild> = {};
  for (const version of VERSIONS) {
    ctx.log(`product: building ${PRODUCT} ${version} (recipes/minimal.ts, port ${port}, --fast)`);
    const b = await cliBuild({ recipe, out: path.join(dir, version), cacheDir: BENCH_CACHE, version, fast: true });
    const a = b.result?.artifacts;
    if (!a?.imageDeb || !a.hostDeb) throw new Error(`build ${version} left no .debs: ${JSON.stringify(b.result)}`);
    builds[version] = { version, imageDeb: a.imageDeb, hostDeb: a.hostDeb };
  }

  ctx.log('product: booting a Debian 13 host (openssh-server added for the anchor)');
  const tree = await makeHostTree('trixie', { extraPackages: ['openssh-server'], cacheDir: path.join(WORK, 'hosts'), log: ctx.log });
  // The host's own sshd must not listen on this machine's port 22: only the anchor socket runs it.
  for (const unit of ['ssh.service', 'ssh.socket']) fs.symlinkSync('/dev/null', path.join(tree.root, 'etc/systemd/system', unit));
  const host = await bootHost(tree, machineName('eb-bench'));
  const product: ProductHost = { host, port, anchorPort: 0, key: path.join(dir, 'id_ed25519'), builds, installed: '', log: [] };
  ctx.shared.set(KEY, product);
  ctx.log(`product: host ${host.name} booted in ${host.bootSeconds} s (${host.bootState})`);

  await installVersion(product, '1.0.0', ctx.log);
  const runnerKey = host.path(`/etc/${PRODUCT}/runner/id_ed25519`);
  fs.copyFileSync(runnerKey, product.key);
  fs.chmodSync(product.key, 0o600);

  product.anchorPort = await freeLoopbackPort();
  await setUpAnchor(product);
  for (const [label, p] of [
    ['ours', port],
    ['anchor', product.anchorPort],
  ] as const) {
    const r = await sshRun(product, p, 'echo ok');
    if (r.exitCode !== 0 || r.stdout.trim() !== 'ok') {
      throw new Error(
        `${label} on port ${p}: ssh exit ${r.exitCode}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}\n${await host.journal(30)}`,
      );
    }
  }
  ctx.log(`product: ours on 127.0.0.1:${port}, anchor sshd -i on 127.0.0.1:${product.anchorPort}; both answer`);
  return product;
}

/** `dpkg -i` of a version's image and host packages, as an admin without a repository would. */
export async function installVersion(p: ProductHost, version: string, log: (l: string) => void): Promise<number> {
  const b = p.builds[version];
  if (!b) throw new Error(`no build of ${version}`);
  fs.mkdirSync(p.host.path('/root/debs'), { recursive: true });
  for (const f of [b.imageDeb, b.hostDeb]) fs.copyFileSync(f, p.host.path(`/root/debs/${path.basename(f)}`));
  const t0 = performance.now();
  await p.host.execOk(`dpkg -i /root/debs/${path.basename(b.imageDeb)} /root/debs/${path.basename(b.hostDeb)}`, { timeoutMs: 5 * 60_000 });
  const ms = performance.now() - t0;
  const active = (await p.host.exec(`systemctl is-active ${PRODUCT}.socket`)).stdout.trim();
  if (active !== 'active') throw new Error(`after dpkg -i ${version}: ${PRODUCT}.socket is ${active}\n${await p.host.journal(30)}`);
  p.installed = version;
  log(`product: dpkg -i ${version} (image + host) took ${(ms / 1000).toFixed(1)} s; socket active`);
  return ms;
}

async function setUpAnchor(p: ProductHost): Promise<void> {
  const { host } = p;
  // No password, but not locked: with UsePAM no, sshd refuses a "!" (locked) account even for keys.
  await host.execOk(`id -u ${USER} >/dev/null 2>&1 || useradd --create-home --uid 9000 --user-group --shell /bin/bash ${USER}; usermod -p '*' ${USER}`);
  // Login shells as the runner starts them (`bash -l`, no terminal) must end with the script's
  // status: Debian's ~/.bash_logout runs clear_console, which fails without one. The image's
  // dotfiles overlay removes it the same way.
  host.writeFile(`/home/${USER}/.bash_logout`, '', 0o644);
  // The image's sshd settings, pointed at the host's copies of the same keys.
  const debianDefaults = fs.readFileSync(host.path('/etc/ssh/sshd_config'), 'utf8');
  const config = `${sshdDropIn(USER).split(KEY_DIR).join(`/etc/${PRODUCT}/ssh`)}\n# Debian's defaults, as in the image:\n${debianDefaults}`;
  host.writeFile(ANCHOR_CONFIG, config, 0o644);
  host.writeFile(
    `/etc/systemd/system/${ANCHOR_UNIT}.socket`,
    [
      '[Unit]',
      'Description=benchmark anchor: plain socket-activated sshd -i',
      '',
      '[Socket]',
      `ListenStream=127.0.0.1:${p.anchorPort}`,
      'Accept=yes',
      'MaxConnections=64',
      '',
    ].join('\n'),
  );
  host.writeFile(
    `/etc/systemd/system/${ANCHOR_UNIT}@.service`,
    [
      '[Unit]',
      'Description=benchmark anchor: sshd -i (connection %i)',
      '',
      '[Service]',
      `ExecStart=-/usr/sbin/sshd -i -f ${ANCHOR_CONFIG}`,
      'StandardInput=socket',
      'StandardError=journal',
      '',
    ].join('\n'),
  );
  // ssh.service is masked, so nothing else makes sshd's privilege separation directory.
  await host.execOk(`mkdir -p -m 0755 /run/sshd && /usr/sbin/sshd -t -f ${ANCHOR_CONFIG} && systemctl daemon-reload && systemctl start ${ANCHOR_UNIT}.socket`);
}

export interface SshResult {
  /** From spawning ssh to its first byte on stdout. */
  firstOutputMs: number;
  /** From spawning ssh to its exit. */
  totalMs: number;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function sshArgs(p: ProductHost, port: number, command: string): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    p.key,
    '-p',
    String(port),
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ControlMaster=no',
    '-o',
    'ControlPath=none',
    '-o',
    'GSSAPIAuthentication=no',
    '-o',
    'ConnectTimeout=60',
    `${USER}@127.0.0.1`,
    command,
  ];
}

/** One ssh connection running `command`, timed from spawn to first output and to exit. */
export function sshRun(p: ProductHost, port: number, command: string, timeoutMs = 120_000): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = Number.NaN;
    let stdout = '';
    let stderr = '';
    const child = spawn('ssh', sshArgs(p, port, command), { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (Number.isNaN(first)) first = performance.now() - t0;
      stdout += s;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ firstOutputMs: first, totalMs: performance.now() - t0, exitCode: code ?? -1, stdout, stderr });
    });
  });
}

/** TCP connect to the server's first byte (its SSH banner): process start-up, no crypto. */
export function bannerMs(port: number, timeoutMs = 60_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no banner from port ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('data', () => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      socket.destroy();
      resolve(ms);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Waits until no container of ours is left running in the host (between measurements). */
export async function waitIdle(p: ProductHost, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await p.host.exec(`systemctl list-units --no-legend --plain --state=active '${PRODUCT}@*.service' '${ANCHOR_UNIT}@*.service' | wc -l`);
    if (r.stdout.trim() === '0') return;
    if (Date.now() > deadline) throw new Error(`connections still active after ${timeoutMs} ms: ${r.stdout}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Powers off the shared host, if one was booted. */
export async function disposeShared(shared: Map<string, unknown>, log: (l: string) => void): Promise<void> {
  const p = shared.get(KEY) as ProductHost | undefined;
  shared.delete(KEY);
  for (const [k, v] of shared) {
    if (k.startsWith('dispose:') && typeof v === 'function')
      await (v as () => Promise<void>)().catch((e: unknown) => log(`cleanup ${k}: ${(e as Error).message}`));
  }
  if (!p) return;
  const r = await p.host.poweroff({ timeoutMs: 60_000 });
  log(`product: host ${p.host.name} powered off in ${r.seconds} s${r.forced ? ' (forced)' : ''}`);
}
