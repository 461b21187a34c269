// A booted test host set up the way a host admin sets one up, for the product e2e tests:
//   - the port: the admin's own drop-in for the socket (what `systemctl edit <name>.socket` writes),
//     put in place before installing, so the socket never listens anywhere else. Hosts share this
//     machine's loopback, so every host gets its own free port; a host with a network of its own
//     listens on its address there too, where this machine reaches it;
//   - apt: the repository's keyring and .sources file, `apt-get update`, `apt-get install <name>`;
//   - install.sh: the release's tarball, SHA256SUMS, its signature and keyring (signed here as the
//     CI's pages job signs them) and install.sh side by side, `sh install.sh install --fingerprint`;
//   - GitLab Runner's key: the one the package made, /etc/<name>/runner/id_ed25519, which
//     `<name>ctl runner-config` names as identity_file, copied out for ssh on this machine.
// Plus what the tests read on the host: live machines, connection units, and waiting for them to go.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  addAptSource,
  APT_ENV,
  bootHost,
  freeLoopbackPort,
  machineName,
  makeHostTree,
  signChecksums,
  testReleaseKey,
  type BootedHost,
  type HostNetwork,
  type HostRelease,
} from '../harness/index.ts';
import { NAME, type Artifacts } from './artifacts.ts';
import type { ProductRepo } from './repo.ts';
import { waitFor, type SshTarget } from './ssh.ts';

export const SOCKET = `${NAME}.socket`;
export const PORT_DROP_IN = `/etc/systemd/system/${SOCKET}.d/listen.conf`;

export interface ProductHost {
  /** Replaced by reboot(). */
  host: BootedHost;
  port: number;
  /** This host's local scratch: the runner key copy, known_hosts files. Removed by poweroff(). */
  work: string;
  /** The runner's SSH settings for this host (set once installed). */
  target: SshTarget;
  poweroff(): Promise<void>;
  /** An orderly poweroff of the host, then a boot of the same tree: what survives a reboot. */
  reboot(): Promise<void>;
}

export interface BootProductHostOptions {
  /** Packages on top of the harness's host packages (e.g. zstd for install.sh). */
  extraPackages?: string[];
  /** A network of its own (harness/host-network.ts); without it the host shares this machine's. */
  network?: HostNetwork;
}

/** Boots a fresh host of `release` and gives its socket a free loopback port, the admin way. */
export async function bootProductHost(release: HostRelease, label: string, o: BootProductHostOptions = {}): Promise<ProductHost> {
  const tree = await makeHostTree(release, { extraPackages: o.extraPackages, log: (l) => console.log(`[${label}] ${l}`) });
  const net = o.network;
  if (net) {
    // Its nameservers, in place of this machine's copy (which may be a link to this machine's /run).
    fs.rmSync(path.join(tree.root, 'etc/resolv.conf'), { force: true });
    fs.writeFileSync(path.join(tree.root, 'etc/resolv.conf'), net.resolvConf);
  }
  const bootOptions = { nspawnArgs: net?.nspawnArgs };
  let host: BootedHost;
  try {
    host = await bootHost(tree, machineName(label), bootOptions);
  } catch (err) {
    await tree.remove();
    throw err;
  }
  const port = await freeLoopbackPort();
  // An empty ListenStream= first: a drop-in adds to a list setting unless it resets it. A host
  // with a network of its own also listens on its address there, where this machine reaches it.
  const listen = [`127.0.0.1:${port}`, ...(net ? [`${net.hostAddress}:${port}`] : [])].map((l) => `ListenStream=${l}\n`).join('');
  host.writeFile(PORT_DROP_IN, `# The admin's choice of port (systemctl edit ${SOCKET}).\n[Socket]\nListenStream=\n${listen}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `eb-${label}-`));
  let off = false;
  const ph: ProductHost = {
    host,
    port,
    work,
    target: { port, identity: path.join(work, 'runner-key'), ...(net ? { host: net.hostAddress } : {}) },
    async poweroff() {
      if (off) return;
      off = true;
      fs.rmSync(work, { recursive: true, force: true });
      const report = await ph.host.poweroff();
      console.log(`[${label}] powered off in ${report.seconds} s${report.forced ? ' (forced)' : ''}`);
    },
    async reboot() {
      const name = ph.host.name;
      const down = await ph.host.poweroff({ keepTree: true });
      if (down.forced) throw new Error(`[${label}] the host did not power off by itself`);
      try {
        ph.host = await bootHost(tree, name, bootOptions);
      } catch (err) {
        off = true;
        fs.rmSync(work, { recursive: true, force: true });
        await tree.remove();
        throw err;
      }
    },
  };
  return ph;
}

/** Copies the runner's private key the package made on the host, for ssh from this machine. */
export function takeRunnerKey(ph: ProductHost): void {
  const key = ph.host.path(`/etc/${NAME}/runner/id_ed25519`);
  fs.copyFileSync(key, ph.target.identity);
  fs.chmodSync(ph.target.identity, 0o600);
}

const t = () => performance.now();
const since = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;

/** The admin's apt path: keyring and .sources from the repository, update, install. Returns seconds. */
export async function installFromRepo(ph: ProductHost, repo: ProductRepo, pkg = NAME): Promise<number> {
  addAptSource(ph.host, { repoDir: repo.dir, name: NAME, uri: repo.url });
  const t0 = t();
  await ph.host.execOk('apt-get update', { env: APT_ENV, timeoutMs: 180_000 });
  await ph.host.execOk(`apt-get install -y ${pkg}`, { env: APT_ENV, timeoutMs: 300_000 });
  takeRunnerKey(ph);
  return since(t0);
}

/** Where a release's files land on the host: one directory per version, as downloaded. */
export function downloadDir(a: Artifacts): string {
  return `/root/${NAME}-${a.version}`;
}

/**
 * Copies a release's tarball, SHA256SUMS and install.sh into the host, with the signature and
 * keyring the CI publishes beside them (made with the test release key), as an admin downloads them.
 */
export async function download(ph: ProductHost, a: Artifacts): Promise<string> {
  const dir = downloadDir(a);
  fs.mkdirSync(ph.host.path(dir), { recursive: true });
  for (const file of [a.tarball, a.sha256sums, a.installSh]) fs.copyFileSync(file, ph.host.path(path.join(dir, path.basename(file))));
  await signChecksums(ph.host.path(dir), NAME);
  return dir;
}

/** The install.sh command line an admin types, trusting the release key by its fingerprint. */
export async function installShCommand(command: 'install' | 'upgrade', a: Artifacts): Promise<string> {
  return `sh ./install.sh ${command} --fingerprint ${(await testReleaseKey()).fingerprint} ./${path.basename(a.tarball)}`;
}

/** `sh install.sh install|upgrade FILE` inside the host, from a shell with the given umask. */
export async function runInstallSh(ph: ProductHost, a: Artifacts, command: 'install' | 'upgrade', umask = '022'): Promise<string> {
  const dir = await download(ph, a);
  return ph.host.execOk(`umask ${umask} && cd ${dir} && ${await installShCommand(command, a)}`, { timeoutMs: 300_000 });
}

/** Names of the machines machined knows (one per live connection). */
export async function machines(ph: ProductHost): Promise<string[]> {
  const out = await ph.host.execOk('machinectl list --no-legend --no-pager');
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean)
    .sort();
}

/** Loaded connection service units (active, activating, failed...). */
export async function connectionUnits(ph: ProductHost): Promise<string[]> {
  const out = await ph.host.execOk(`systemctl list-units --all --no-legend --no-pager --plain '${NAME}@*'`);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean)
    .sort();
}

/** Waits until no container, no connection unit and no container process is left on the host. */
export async function waitNoContainers(ph: ProductHost, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    'every container of the host to be gone',
    async () => {
      const [m, u, procs] = await Promise.all([machines(ph), connectionUnits(ph), containerProcesses(ph)]);
      return m.length === 0 && u.length === 0 && procs.length === 0 ? true : undefined;
    },
    timeoutMs,
  );
}

/** Processes on the host owned by a uid of a private-users range (container processes). */
export async function containerProcesses(ph: ProductHost): Promise<string[]> {
  const out = await ph.host.execOk('ps -e -o uid=,pid=,comm=');
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => Number(l.split(/\s+/)[0]) > 65535);
}

/** A counter of the host's socket (accepted, refused, open connections), as systemd keeps it. */
export function socketCounter(ph: ProductHost): (property: string) => Promise<number> {
  return async (property) => Number((await ph.host.execOk(`systemctl show -P ${property} ${SOCKET}`)).trim());
}

/** The version in /var/lib/<name>/current, as the spawn helper resolves it. */
export async function currentVersion(ph: ProductHost): Promise<string> {
  return path.basename((await ph.host.execOk(`readlink -e /var/lib/${NAME}/current`)).trim());
}

/** The one connection unit's full name, waiting for it to appear. */
export async function oneConnectionUnit(ph: ProductHost): Promise<string> {
  return waitFor(
    'a connection unit',
    async () => {
      const units = await connectionUnits(ph);
      return units.length === 1 ? units[0] : undefined;
    },
    30_000,
  );
}

/** nspawn's system call filter as the host stores it (syscall-filter, ctl refresh-filter). */
export const STORED_FILTER = `/var/lib/${NAME}/syscall-filter`;
/** doctor's line when connections load the stored filter. */
export const DOCTOR_FILTER_STORED = /^ok {4}nspawn's system call filter is on, stored: \d+ filters, /m;

/** The stored filter's inode (a new one means it was written again), or 'none' while it is missing. */
export async function storedFilterInode(ph: ProductHost): Promise<string> {
  return (await ph.host.execOk(`stat -c %i ${STORED_FILTER} 2>/dev/null || echo none`)).trim();
}

/**
 * What the connections said about the filter: the syscall-filter lines of the connection units'
 * journal, after a sync, as a connection's stderr reaches the journal asynchronously.
 */
export async function filterJournal(ph: ProductHost): Promise<string> {
  return ph.host.execOk(`journalctl --sync; journalctl -q -o cat -u '${NAME}@*' | grep 'syscall-filter:' || true`);
}
