// A network of its own for a booted test host, as a real host has one: a network namespace made
// here (`ip netns add`) with a veth pair to this machine, a /30 from 198.18.0.0/15 (the range set
// aside for network tests), the host's default route through this machine, and this machine
// masquerading what the host sends on (an nftables table of its own), so that the host reaches
// Debian's mirror through this machine as it would through its router. Booted in it with
// --private-network, the host's root has CAP_NET_ADMIN and a writable /proc/sys/net there, as a
// real host's root has: it can forward, and load nftables rules, which a host sharing this
// machine's namespace cannot. This machine also takes a link-local address on the link, beyond
// the host's own link as a cloud's metadata service (169.254.169.254) is, for a test to serve there.
// Everything is made under random names and removed by those names: the table, the veth pair,
// the namespace; IPv4 forwarding, which the masquerading needs here, goes back to what it was.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { execa } from 'execa';

export interface HostNetwork {
  /** The namespace's name, under /run/netns. */
  name: string;
  /** The host's address, on its side of the pair (its "external" address). */
  hostAddress: string;
  /** This machine's address on the pair: the host's gateway, and where tests serve the host from. */
  gateway: string;
  /** A link-local address of this machine (169.254.0.0/16) that the host reaches through its gateway. */
  linkLocal: string;
  /** systemd-nspawn options that boot a host in the namespace. */
  nspawnArgs: string[];
  /** /etc/resolv.conf for the host: this machine's nameservers, those the host can reach. */
  resolvConf: string;
  dispose(): Promise<void>;
}

const FORWARDING = '/proc/sys/net/ipv4/ip_forward';

async function run(cmd: string, args: string[], input?: string): Promise<void> {
  const r = await execa(cmd, args, { reject: false, ...(input !== undefined ? { input } : { stdin: 'ignore' as const }) });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.exitCode}\n${r.stderr}`);
}

/**
 * This machine's nameservers that are not on its loopback (the host has a loopback of its own);
 * where resolved runs, the servers it forwards to.
 */
export function reachableNameservers(): string[] {
  const servers = (file: string) => {
    try {
      return fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => /^nameserver\s+(\S+)/.exec(l)?.[1])
        .filter((s): s is string => !!s);
    } catch {
      return [];
    }
  };
  const away = (s: string) => !/^127\./.test(s) && s !== '::1';
  const found = servers('/etc/resolv.conf').filter(away);
  return found.length ? found : servers('/run/systemd/resolve/resolv.conf').filter(away);
}

/** A /30 of 198.18.0.0/15 that no address of this machine is in yet. */
async function freeLink(): Promise<{ gateway: string; host: string; linkLocal: string }> {
  const unused = async (prefix: string) => {
    const used = await execa('ip', ['-4', '-o', 'addr', 'show', 'to', prefix], { reject: false });
    return used.exitCode === 0 && used.stdout.trim() === '';
  };
  for (let i = 0; i < 20; i++) {
    const [a, b, c, d] = randomBytes(4);
    const base = `198.${18 + (a! & 1)}.${b}`;
    const last = (a! >> 1) * 4;
    const linkLocal = `169.254.${1 + (c! % 254)}.${1 + (d! % 254)}`;
    if ((await unused(`${base}.${last}/30`)) && (await unused(`${linkLocal}/32`)))
      return { gateway: `${base}.${last + 1}`, host: `${base}.${last + 2}`, linkLocal };
  }
  throw new Error('no free /30 in 198.18.0.0/15 after 20 tries');
}

export async function makeHostNetwork(): Promise<HostNetwork> {
  const nameservers = reachableNameservers();
  if (!nameservers.length)
    throw new Error(
      "this machine has no nameserver off its loopback (/etc/resolv.conf, resolved's uplink): a test host in its own network could resolve nothing",
    );
  const id = randomBytes(3).toString('hex');
  const name = `eb-test-${id}`;
  const outside = `ebt-${id}`;
  const inside = `ebh-${id}`;
  const table = `eb_test_${id}`;
  const { gateway, host, linkLocal } = await freeLink();
  const forwardingBefore = fs.readFileSync(FORWARDING, 'utf8').trim();
  const undo: Array<() => Promise<void>> = [];
  const dispose = async () => {
    const errors: string[] = [];
    for (const step of undo.reverse()) await step().catch((e: unknown) => errors.push((e as Error).message));
    undo.length = 0;
    if (errors.length) throw new Error(`cleaning up host network ${name}:\n${errors.join('\n')}`);
  };
  try {
    await run('ip', ['netns', 'add', name]);
    undo.push(() => run('ip', ['netns', 'delete', name]));
    await run('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', name]);
    // Deleting one end deletes the pair (also done by deleting the namespace, first here).
    undo.push(async () => {
      if (fs.existsSync(`/sys/class/net/${outside}`)) await run('ip', ['link', 'delete', outside]);
    });
    await run('ip', ['-batch', '-'], `address add ${gateway}/30 dev ${outside}\naddress add ${linkLocal}/32 dev ${outside}\nlink set ${outside} up\n`);
    await run(
      'ip',
      ['-n', name, '-batch', '-'],
      `link set lo up\naddress add ${host}/30 dev ${inside}\nlink set ${inside} up\nroute add default via ${gateway}\n`,
    );
    await run(
      'nft',
      ['-f', '-'],
      `table ip ${table} {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tiifname "${outside}" masquerade\n\t}\n}\n`,
    );
    undo.push(() => run('nft', ['delete', 'table', 'ip', table]));
    if (forwardingBefore !== '1') {
      fs.writeFileSync(FORWARDING, '1');
      undo.push(async () => fs.writeFileSync(FORWARDING, forwardingBefore));
    }
  } catch (err) {
    await dispose().catch(() => undefined);
    throw err;
  }
  return {
    name,
    hostAddress: host,
    gateway,
    linkLocal,
    dispose,
    nspawnArgs: [`--network-namespace-path=/run/netns/${name}`, '--private-network'],
    resolvConf: nameservers.map((s) => `nameserver ${s}\n`).join(''),
  };
}
