// The containers' network modes on a real host: recipes/minimal.ts 1.0.0 installed with apt on a
// booted Debian 13 host with a network of its own (harness/host-network.ts: its own namespace,
// this machine its router to Debian's mirror), so that its root can forward and load nftables
// rules as a real host's root can; a host sharing this machine's network could do neither. The
// same jobs run in both modes, switched with NETWORK= in the host's settings (read at every
// connection, as an admin switches a host): GitLab Runner's kind of job, then what a hostile job
// tries against the network. `host` (the default) shows what `private` takes away: there a job
// reaches the host's socket on loopback and on the host's address, and a port it listens on is
// the host's. `private` is set up the way the host admin guide says, after spawn refused it with
// the reason while nftables and forwarding were missing.
import net from 'node:net';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/env.ts';
import { APT_ENV, makeHostNetwork, type HostNetwork } from './harness/index.ts';
import { artifacts, CTL, NAME } from './product/artifacts.ts';
import { checkRunnerJob } from './product/checks.ts';
import { bootProductHost, installFromRepo, waitNoContainers, type ProductHost } from './product/host.ts';
import { makeProductRepo, type ProductRepo } from './product/repo.ts';
import { serveTestRepo, type ServedRepo } from './product/runner-job.ts';
import { HeldJob, ssh, sshOk, waitFor } from './product/ssh.ts';

const NEEDS = { root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'nsenter', 'setpriv', 'zstd', 'tar', 'dpkg-deb', 'gpg', 'ssh', 'git', 'ip', 'nft'] };
const CONF = `/etc/${NAME}/${NAME}.conf`;
/** Seconds a connection that nothing answers is given: a dropped packet gets no answer at all. */
const PATIENCE = 3;

/** What a TCP connection from this machine to address:port comes to: the first line the peer sends, or why none. */
function connectFromHere(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect({ host, port, timeout: PATIENCE * 1000 });
    s.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.includes('\n')) s.destroy();
    });
    s.once('close', () => resolve(got ? got.split('\n')[0]! : 'closed'));
    s.once('timeout', () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

/** A TCP server on address (a free port) that answers every connection with `line`. */
async function serveLine(address: string, line: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((c) => c.end(`${line}\n`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Shell for a job: connects to each ADDRESS:PORT at once, each given PATIENCE seconds, and prints
 * "ADDRESS: " and the first line it got (an SSH banner...), "refused" or "timeout".
 */
function probeScript(targets: Array<[string, number]>): string {
  return `for t in ${targets.map(([a, p]) => `${a}/${p}`).join(' ')}; do
  ( out=$(timeout ${PATIENCE} bash -c "exec 3<>/dev/tcp/$t && head -n 1 <&3" 2>&1); code=$?
    a=\${t%/*}
    case "$code:$out" in 0:*) echo "$a: $out" ;; 124:*) echo "$a: timeout" ;; *refused*) echo "$a: refused" ;; *) echo "$a: $code $out" ;; esac ) &
done; wait`;
}

/** The probe's answers by address, the SSH banner's version text cut off. */
function answers(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .filter((l) => /^[0-9.]+: /.test(l))
      .map((l) => {
        const [a, rest] = l.split(/: (.*)/s) as [string, string];
        return [a, rest.startsWith('SSH-2.0-') ? 'SSH-2.0' : rest.trim()];
      }),
  );
}

/**
 * A job that listens on 0.0.0.0:port and answers every connection with a line (and says on its
 * stdout whom it accepted), checks that it answers itself, and says its own address.
 */
function listenerJob(ph: ProductHost, port: number): HeldJob {
  return new HeldJob(
    ph.target,
    `perl -MIO::Socket::INET -e '
$| = 1;
my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => ${port}, Listen => 8, ReuseAddr => 1) or die "listen: $!\\n";
while (my $c = $s->accept) { print "accepted from ", $c->peerhost, "\\n"; print $c "hello from the job\\n"; close $c }' &
listener=$!
for i in $(seq 50); do self=$(timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && head -n 1 <&3' 2>/dev/null) && break; sleep 0.1; done
echo "self: $self"
echo "address: $(awk '/32 host/ { print f } { f = $2 }' /proc/net/fib_trie | grep -v '^127\\.' | sort -u | head -n 1)"
read -r _; kill "$listener"`,
  );
}

describeWith(NEEDS, 'network modes on a Debian 13 host with a network of its own', () => {
  let network: HostNetwork | undefined;
  let h: ProductHost | undefined;
  let repo: ProductRepo | undefined;
  let git: ServedRepo | undefined;
  /** A cloud's metadata service, as a job would find one: on a link-local address beyond the host. */
  let metadata: { port: number; close(): Promise<void> } | undefined;
  /** The host's socket port, from where a job sits: the same port on every address. */
  let port = 0;
  const timings: Record<string, number> = {};

  const setNetwork = async (mode: 'host' | 'private') => {
    await h!.host.execOk(`sed -i 's/^NETWORK=.*/NETWORK=${mode}/' ${CONF} && grep -qx 'NETWORK=${mode}' ${CONF}`);
  };

  beforeAll(async () => {
    const t0 = performance.now();
    network = await makeHostNetwork();
    metadata = await serveLine(network.linkLocal, "the host's credentials");
    const [built, booted, made, served] = await Promise.allSettled([
      artifacts('1.0.0'),
      bootProductHost('trixie', 'network-modes', { network }),
      makeProductRepo(network.gateway),
      serveTestRepo(network.gateway),
    ]);
    if (booted.status === 'fulfilled') h = booted.value;
    if (made.status === 'fulfilled') repo = made.value;
    if (served.status === 'fulfilled') git = served.value;
    for (const r of [built, booted, made, served]) if (r.status === 'rejected') throw r.reason;
    await repo!.add((built as PromiseFulfilledResult<Awaited<ReturnType<typeof artifacts>>>).value);
    await installFromRepo(h!, repo!);
    port = h!.port;
    // The runner connects to the host's address: known_hosts and runner-config name it.
    await h!.host.execOk(`sed -i 's/^RUNNER_HOST=.*/RUNNER_HOST=${network.hostAddress}/' ${CONF} && ${CTL} known-hosts`);
    timings.beforeAll = Math.round(performance.now() - t0) / 1000;
  });

  afterAll(async () => {
    await h?.poweroff();
    await Promise.allSettled([repo?.dispose(), git?.close(), metadata?.close()]);
    await network?.dispose();
    console.log(`[network-modes] timings (s): ${JSON.stringify(timings)}`);
  });

  it("host (the default): the runner-style job passes; a job reaches the host's socket on loopback and on the host's address, and a link-local service beyond it; a port it listens on is the host's", async () => {
    const ph = h!;
    expect(await ph.host.execOk(`grep ^NETWORK= ${CONF}`)).toBe('NETWORK=host\n');
    await checkRunnerJob(ph, git!, network!.hostAddress);
    const reach = answers(
      await sshOk(
        ph.target,
        probeScript([
          ['127.0.0.1', port],
          [network!.hostAddress, port],
          [network!.linkLocal, metadata!.port],
        ]),
        { timeoutMs: 60_000 },
      ),
    );
    expect(reach).toEqual({ '127.0.0.1': 'SSH-2.0', [network!.hostAddress]: 'SSH-2.0', [network!.linkLocal]: "the host's credentials" });
    const listenPort = 20000 + Math.floor(Math.random() * 20000);
    const job = listenerJob(ph, listenPort);
    try {
      await job.waitFor(/^address: /m);
      expect(job.stdout).toContain('self: hello from the job\n');
      // The job's address is the host's: it shares the host's network.
      expect(job.stdout).toContain(`address: ${network!.hostAddress}\n`);
      expect(await connectFromHere(network!.hostAddress, listenPort)).toBe('hello from the job');
    } finally {
      await job.end().catch(() => job.kill());
    }
    await waitNoContainers(ph);
  });

  it('private without its host setup: each connection is refused, and the journal says what is missing and how to get it', async () => {
    const ph = h!;
    await setNetwork('private');
    // Off, whatever this namespace inherited: the admin turns it on below.
    await ph.host.execOk('sysctl -q -w net.ipv4.ip_forward=0');
    const journal = async () => ph.host.execOk(`journalctl --sync; journalctl -q -o cat -u '${NAME}@*' | grep 'private-network:' || true`);
    expect((await ph.host.exec('command -v nft')).exitCode).not.toBe(0);
    const noNft = await ssh(ph.target, 'echo in', { timeoutMs: 30_000 });
    expect({ code: noNft.exitCode, out: noNft.stdout }).toEqual({ code: 255, out: '' });
    await waitFor(
      'the refusal in the journal',
      async () => ((await journal()).includes('needs nft on the host: apt-get install iproute2 nftables') ? true : undefined),
      15_000,
    );
    // The admin's first step (host admin guide): nftables, from Debian's mirror through the host's router.
    await ph.host.execOk('apt-get install -y --no-install-recommends nftables', { env: APT_ENV, timeoutMs: 180_000 });
    const noForwarding = await ssh(ph.target, 'echo in', { timeoutMs: 30_000 });
    expect(noForwarding.exitCode).toBe(255);
    await waitFor(
      'the refusal in the journal',
      async () => ((await journal()).includes('needs IPv4 forwarding, which is off on this host: sysctl -w net.ipv4.ip_forward=1') ? true : undefined),
      15_000,
    );
    const doctor = await ph.host.exec(`${CTL} doctor`, { timeoutMs: 90_000 });
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(/^FAIL {2}NETWORK=private needs IPv4 forwarding/m);
    // The second: forwarding, now and after every boot.
    ph.host.writeFile(`/etc/sysctl.d/60-${NAME}.conf`, 'net.ipv4.ip_forward = 1\n');
    await ph.host.execOk(`sysctl -q -p /etc/sysctl.d/60-${NAME}.conf`);
    expect(await ph.host.execOk(`${CTL} doctor`, { timeoutMs: 90_000 })).toMatch(/^ok {4}network private: /m);
    expect(await sshOk(ph.target, 'echo in')).toBe('in\n');
    await waitNoContainers(ph);
  });

  it('private: the runner-style job passes (one connection, a `bash -l` per stage), its project fetched from outside the host', async () => {
    const ph = h!;
    const privateStarts = async () =>
      (await ph.host.execOk(`journalctl --sync; journalctl -q -o cat -u '${NAME}@*' | grep -c 'private-network: 10\\.250\\..* on host0, via ' || true`)).trim();
    const before = Number(await privateStarts());
    await checkRunnerJob(ph, git!, network!.hostAddress);
    // Its one connection had a network of its own.
    expect(Number(await privateStarts())).toBe(before + 1);
    // Nothing is left of a private container once it is gone: no link on the host (the unnamed
    // namespace, which held its other end, went with the container).
    await waitFor(
      "the containers' links to go",
      async () => ((await ph.host.execOk("ip -o link show | grep -c ' ebv-' || true")).trim() === '0' ? true : undefined),
      15_000,
    );
  });

  it("private: a job fetches from Debian's mirror by name; it cannot connect to the host's socket (loopback, the host's address, its gateway) nor to a link-local service beyond the host; nothing from outside or from another job reaches a port it listens on", async () => {
    const ph = h!;
    // One job: the fetch, then its gateway (the host's side of its link) and the probes.
    const inside = await sshOk(
      ph.target,
      `exec 3<>/dev/tcp/deb.debian.org/80 && printf 'GET /debian/dists/trixie/InRelease HTTP/1.1\\r\\nHost: deb.debian.org\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -c 4000 <&3 | tr -d '\\r'
exec 3<&-
gw=$(perl -lane 'print join ".", unpack "C4", pack "V", hex $F[2] if $F[1] eq "00000000"' /proc/net/route)
echo; echo "gateway: $gw"
${probeScript([
  ['127.0.0.1', port],
  [network!.hostAddress, port],
  ['$gw', port],
  [network!.linkLocal, metadata!.port],
])}`,
      { timeoutMs: 60_000 },
    );
    expect(inside.split('\n')[0]).toMatch(/^HTTP\/1\.[01] 200 /);
    expect(inside).toMatch(/^Codename: trixie$/m);
    const gateway = /^gateway: (\d+\.\d+\.\d+\.\d+)$/m.exec(inside)?.[1];
    expect(gateway).toMatch(/^10\.250\.\d+\.\d+$/);
    // 127.0.0.1 is the container's own, where nothing listens; the host's addresses drop what it
    // sends, and so does a link-local service beyond the host (a cloud's metadata service).
    expect(answers(inside.slice(inside.indexOf('\ngateway: ')))).toEqual({
      '127.0.0.1': 'refused',
      [network!.hostAddress]: 'timeout',
      [gateway!]: 'timeout',
      [network!.linkLocal]: 'timeout',
    });

    const listenPort = 20000 + Math.floor(Math.random() * 20000);
    const job = listenerJob(ph, listenPort);
    let route = '';
    try {
      await job.waitFor(/^address: /m);
      expect(job.stdout).toContain('self: hello from the job\n');
      const address = /^address: (10\.250\.\d+\.\d+)$/m.exec(job.stdout)?.[1];
      expect(address).toBeDefined();
      // Not on the host's address: the port is the container's, not the host's.
      expect(await connectFromHere(network!.hostAddress, listenPort)).toBe('ECONNREFUSED');
      // Not from another job, by the container's own address.
      expect(answers(await sshOk(ph.target, probeScript([[address!, listenPort]]), { timeoutMs: 60_000 }))).toEqual({ [address!]: 'timeout' });
      // Not from outside even where a route leads there: the host forwards no new connection in.
      route = `${address}/32`;
      await execa('ip', ['route', 'add', route, 'via', network!.hostAddress]);
      expect(await connectFromHere(address!, listenPort)).toBe('timeout');
      // It accepted its own connection, nobody else's.
      expect(job.stdout.match(/^accepted from .*$/gm)).toEqual(['accepted from 127.0.0.1']);
    } finally {
      if (route) await execa('ip', ['route', 'delete', route, 'via', network!.hostAddress], { reject: false });
      await job.end().catch(() => job.kill());
    }
    await waitNoContainers(ph);
  });
});
