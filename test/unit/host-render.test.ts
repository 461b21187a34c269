// renderHostFiles: every placeholder of host/ is replaced, the recipe's values land where the
// host reads them, the shared fragment is inlined, and the contract with the pack stage (paths,
// modes, conffiles) holds. Golden files in test/golden/host/ show the rendered units and config.
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RecipeError } from '../../pipeline/errors.ts';
import { HOST_DIR, listenStream, renderHostFiles, type HostPackageFiles } from '../../pipeline/host-package/render.ts';
import { IMAGE_LINTIAN_OVERRIDES, renderImageLintianOverrides } from '../../pipeline/pack/lintian-image-overrides.ts';
import { recipeSchema, type RecipeInput } from '../../pipeline/recipe/schema.ts';

const GOLDEN = path.resolve(import.meta.dirname, '../golden/host');

function render(input: RecipeInput = {}): HostPackageFiles {
  return renderHostFiles(recipeSchema.parse(input));
}

function texts(h: HostPackageFiles): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of h.files) out[f.path] = typeof f.content === 'string' ? f.content : gunzipSync(f.content).toString('utf8');
  for (const [k, v] of Object.entries(h.maintainerScripts)) out[`host ${k}`] = v!;
  for (const [k, v] of Object.entries(h.imageMaintainerScripts)) out[`image ${k}`] = v!;
  out['install.sh'] = h.installSh;
  out['lintian image'] = h.lintianOverrides.image;
  return out;
}

function file(h: HostPackageFiles, p: string): string {
  const f = h.files.find((x) => x.path === p);
  if (!f) throw new Error(`no ${p} among ${h.files.map((x) => x.path).join(', ')}`);
  return typeof f.content === 'string' ? f.content : gunzipSync(f.content).toString('utf8');
}

const CUSTOM: RecipeInput = {
  name: 'ci-box',
  version: '2.3.4-rc.1',
  description: 'CI boxes at 100% speed',
  user: { name: 'runner', uid: 12000, gid: 12001, shell: '/usr/bin/zsh' },
  ssh: { listenAddress: '::1', port: 2222 },
  limits: { homeSize: '3G', memory: '6G', tasks: 333, cpu: '150%', runtime: '45min', maxConnections: 7, addressSpace: '9G' },
  binds: [{ source: '/usr/bin/gitlab-runner' }, { source: '/opt/tools', target: '/srv/tools', optional: false }],
};

describe('renderHostFiles', () => {
  it('replaces every placeholder in every file, for the default and a customised recipe', () => {
    for (const input of [{}, CUSTOM]) {
      for (const [name, text] of Object.entries(texts(render(input)))) {
        expect(text.match(/@[A-Z][A-Z_]*@/g), name).toBeNull();
        expect(text, name).not.toMatch(/^#@include/m);
      }
    }
  });

  it('puts the socket settings from the recipe into the socket unit', () => {
    const h = render(CUSTOM);
    const socket = file(h, '/usr/lib/systemd/system/ci-box.socket');
    expect(socket).toMatch(/^ListenStream=\[::1\]:2222$/m);
    expect(socket).toMatch(/^Accept=yes$/m);
    // Two connection slots per job the runner may run (limits.maxConnections).
    expect(socket).toMatch(/^MaxConnections=14$/m);
    expect(socket).toMatch(/^WantedBy=sockets.target$/m);
    expect(listenStream('[::1]', 24)).toBe('[::1]:24');
    expect(listenStream('0.0.0.0', 24)).toBe('0.0.0.0:24');
  });

  it('puts every resource limit on the service, which execs the spawn helper with the instance', () => {
    const service = file(render(CUSTOM), '/usr/lib/systemd/system/ci-box@.service');
    for (const line of [
      'MemoryMax=6G',
      'TasksMax=333',
      'CPUQuota=150%',
      'RuntimeMaxSec=45min',
      'Delegate=yes',
      'KillMode=mixed',
      'StandardInput=socket',
      'StandardOutput=socket',
      'StandardError=journal',
      'ExecStart=/usr/lib/ci-box/spawn %i',
    ]) {
      expect(service).toContain(`\n${line}\n`);
    }
    // % starts a specifier in unit files: the description's percent sign is doubled.
    expect(service).toMatch(/^Description=CI boxes at 100%% speed \(connection %i\)$/m);
  });

  it('gives the spawn helper and the config the recipe defaults, binds with optional ones marked', () => {
    const h = render(CUSTOM);
    const spawn = file(h, '/usr/lib/ci-box/spawn');
    expect(spawn).toContain("HOME_SIZE='3G'");
    expect(spawn).toContain("NPROC='333'");
    expect(spawn).toContain("ADDRESS_SPACE='9G'");
    expect(spawn).toContain("BINDS='-/usr/bin/gitlab-runner /opt/tools:/srv/tools'");
    expect(spawn).toContain('--tmpfs="/home/runner:mode=0700,size=$HOME_SIZE,nr_inodes=$home_inodes"');
    const conf = file(h, '/etc/ci-box/ci-box.conf');
    expect(conf).toMatch(/^HOME_SIZE=3G$/m);
    expect(conf).toMatch(/^NPROC=333$/m);
    expect(conf).toMatch(/^ADDRESS_SPACE=9G$/m);
    expect(conf).toMatch(/^BINDS="-\/usr\/bin\/gitlab-runner \/opt\/tools:\/srv\/tools"$/m);
  });

  it('gives the host tool the user, the limit and the listen address', () => {
    const ctl = file(render(CUSTOM), '/usr/sbin/ci-boxctl');
    expect(ctl).toContain("EB_NAME='ci-box'");
    // The socket's MaxConnections (14 unless an admin changed it), halved: the runner's limit, 7.
    expect(ctl).toContain('printf \'%s\\n\' "${eb_sm:-14}"');
    expect(ctl).toContain('eb_rl=$(($(eb_socket_max) / 2))');
    expect(ctl).toContain('[ -n "$eb_l" ] || eb_l=\'[::1]:2222\'');
    expect(ctl).toContain('user = "runner"');
    expect(ctl).toContain("--reuid='12000' --regid='12001'");
    expect(ctl).toContain("'/usr/bin/zsh'");
  });

  it('inlines the shared host logic into the maintainer scripts, install.sh and the host tool', () => {
    const h = render();
    const shared = 'eb_switch_current() {';
    expect(h.maintainerScripts.postinst).toContain(shared);
    expect(h.maintainerScripts.postinst).toContain("eb_configure_host '0.0.0' dpkg");
    expect(h.installSh).toContain(shared);
    expect(h.installSh).toContain('eb_configure_host "$eb_in_version" install.sh');
    expect(file(h, '/usr/sbin/ephemeral-builderctl')).toContain(shared);
    expect(h.imageMaintainerScripts.prerm).toContain("eb_containers_using '0.0.0'");
    expect(h.imageMaintainerScripts.postrm).toContain('eb_repair_links');
  });

  it('keeps the contract with the pack stage: paths, modes, conffiles', () => {
    const h = render({ name: 'eb' });
    expect(h.files.map((f) => [f.path, f.mode.toString(8), Boolean(f.conffile)])).toEqual([
      ['/usr/lib/systemd/system/eb.socket', '644', false],
      ['/usr/lib/systemd/system/eb@.service', '644', false],
      ['/usr/lib/eb/spawn', '755', false],
      ['/usr/lib/eb/syscall-filter', '755', false],
      ['/usr/lib/eb/private-network', '755', false],
      ['/usr/lib/eb/private-network.nft', '644', false],
      ['/usr/sbin/ebctl', '755', false],
      ['/etc/eb/eb.conf', '644', true],
      ['/usr/share/man/man8/ebctl.8.gz', '644', false],
    ]);
    expect(Object.keys(h.maintainerScripts).sort()).toEqual(['postinst', 'postrm', 'preinst', 'prerm']);
    // Only the postinst handles triggers: nspawn and the two libraries its filter comes from.
    expect(h.triggers.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
      'interest-noawait /usr/bin/systemd-nspawn',
      'interest-noawait /usr/lib/x86_64-linux-gnu/libseccomp.so.2',
      'interest-noawait /usr/lib/x86_64-linux-gnu/systemd',
    ]);
    expect(h.maintainerScripts.postinst).toContain('if [ "$1" = triggered ]; then');
    // One override, for the host tool reading an image's dpkg database, scoped to the host tool.
    expect(h.lintianOverrides.host?.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['uses-dpkg-database-directly [usr/sbin/ebctl]']);
    for (const script of [...Object.values(h.maintainerScripts), ...Object.values(h.imageMaintainerScripts), h.installSh]) {
      expect(script).toMatch(/^#!\/bin\/sh\n/);
    }
  });

  it('gives the network mode to the spawn helper and the config, host by default, and a private one its host packages', () => {
    const byDefault = render({ name: 'eb' });
    expect(file(byDefault, '/usr/lib/eb/spawn')).toContain("\nNETWORK='host'\n");
    expect(file(byDefault, '/etc/eb/eb.conf')).toMatch(/^NETWORK=host$/m);
    // A host-mode package depends on nothing more than before.
    expect(byDefault.depends).toEqual([]);
    const priv = render({ name: 'eb', network: 'private' });
    expect(file(priv, '/usr/lib/eb/spawn')).toContain("\nNETWORK='private'\n");
    expect(file(priv, '/etc/eb/eb.conf')).toMatch(/^NETWORK=private$/m);
    expect(file(priv, '/etc/eb/eb.conf')).toMatch(/^PRIVATE_SUBNET=10\.250\.0\.0\/16$/m);
    expect(priv.depends).toEqual(['iproute2', 'nftables']);
    // Private containers start through private-network, before the filter is loaded.
    const spawn = file(priv, '/usr/lib/eb/spawn');
    expect(spawn).toContain('set -- "${0%/*}/private-network" exec "$PRIVATE_SUBNET" "$slot" "$@"');
    expect(spawn.indexOf('private-network" exec')).toBeGreaterThan(spawn.indexOf('syscall-filter-exec" "$filter" "$@"'));
    expect(spawn).toContain('--resolv-conf=bind-uplink');
  });

  it("renders the private network's nftables table under the recipe's name: containers reach no host address, nothing reaches them, their traffic out is masqueraded", () => {
    const rules = file(render({ name: 'ci-box', network: 'private' }), '/usr/lib/ci-box/private-network.nft');
    const body = rules
      .split('\n')
      .filter((l) => l.trim() && !l.trim().startsWith('#'))
      .map((l) => l.trim());
    expect(body.slice(0, 3)).toEqual(['table inet ci-box {}', 'delete table inet ci-box', 'table inet ci-box {']);
    // The table's comment is a digest of its rules, which private-network looks for before it loads them.
    const id = /^comment "(ci-box private-network [0-9a-f]{16})"$/.exec(body[3]!)?.[1];
    expect(id).toBeDefined();
    expect(file(render({ name: 'ci-box' }), '/usr/lib/ci-box/private-network')).toContain(`\nRULES_ID='${id}'\n`);
    expect(file(render({ name: 'ci-box2' }), '/usr/lib/ci-box2/private-network.nft')).not.toContain(id!.slice(-16));
    expect(body).toContain('type filter hook input priority filter; policy accept;');
    expect(body).toContain('iifname "ebv-*" drop');
    const forward = body.slice(body.indexOf('chain forward {') + 1);
    expect(forward.slice(0, forward.indexOf('}'))).toEqual([
      'type filter hook forward priority filter; policy accept;',
      'oifname "ebv-*" ct state established,related accept',
      'oifname "ebv-*" drop',
      'iifname "ebv-*" ip daddr 169.254.0.0/16 udp dport 53 accept',
      'iifname "ebv-*" ip daddr 169.254.0.0/16 tcp dport 53 accept',
      'iifname "ebv-*" ip daddr 169.254.0.0/16 drop',
    ]);
    expect(body).toContain('iifname "ebv-*" oifname != "ebv-*" masquerade');
    expect(file(render({ name: 'ci-box' }), '/usr/lib/ci-box/private-network')).toContain("NAME='ci-box'");
  });

  it('renders byte-identical output for the same recipe (the man page too)', () => {
    const a = render(CUSTOM);
    const b = render(CUSTOM);
    expect(a.files.map((f) => Buffer.from(f.content))).toEqual(b.files.map((f) => Buffer.from(f.content)));
  });

  it('takes the image lintian overrides from the pack work, each scoped to the image directory', () => {
    const text = render({ name: 'eb', version: '1.2.3' }).lintianOverrides.image;
    expect(text).toBe(renderImageLintianOverrides('eb', '1.2.3'));
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toHaveLength(IMAGE_LINTIAN_OVERRIDES.length);
    // Each override names the image directory in its context: brackets for most hints, plain
    // text for the few hints lintian writes without them (see lintian-image-overrides.ts).
    for (const line of lines) expect(line).toMatch(/^[a-z0-9-]+ (\*\[usr\/lib\/eb\/images\/1\.2\.3\/\*\]|.*usr\/lib\/eb\/images\/1\.2\.3\/\*)$/);
  });

  it('refuses bind paths and shells that would break the shell or nspawn syntax, naming the field', () => {
    expect(() => render({ binds: [{ source: '/a b' }] })).toThrow(RecipeError);
    expect(() => render({ binds: [{ source: '/ok', target: '/x:y' }] })).toThrow(/binds\[0\]\.target/);
    expect(() => render({ user: { shell: "/bin/sh'x" } })).toThrow(/user\.shell/);
  });

  it('reads only files that exist in host/', () => {
    for (const rel of [
      'units/NAME.socket',
      'units/NAME@.service',
      'bin/spawn',
      'bin/syscall-filter',
      'bin/private-network',
      'share/private-network.nft',
      'bin/ctl',
      'etc/NAME.conf',
      'lib/common.sh',
      'install.sh',
      'man/NAMEctl.8',
      'debian/preinst',
      'debian/postinst',
      'debian/prerm',
      'debian/postrm',
      'debian/triggers',
      'debian/image-prerm',
      'debian/image-postrm',
    ]) {
      expect(fs.existsSync(path.join(HOST_DIR, rel)), rel).toBe(true);
    }
  });
});

describe('golden host files (default recipe)', () => {
  const h = render();
  for (const [p, golden] of [
    ['/usr/lib/systemd/system/ephemeral-builder.socket', 'ephemeral-builder.socket'],
    ['/usr/lib/systemd/system/ephemeral-builder@.service', 'ephemeral-builder@.service'],
    ['/etc/ephemeral-builder/ephemeral-builder.conf', 'ephemeral-builder.conf'],
    ['/usr/lib/ephemeral-builder/spawn', 'spawn'],
  ] as const) {
    it(golden, async () => {
      await expect(file(h, p)).toMatchFileSnapshot(path.join(GOLDEN, golden));
    });
  }
});
