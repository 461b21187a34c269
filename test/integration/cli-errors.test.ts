// Bad input through the real CLI: exit 2 and a message that names the problem and the fix, before
// anything is bootstrapped. Package and suite names are checked against the real mirror.
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/env.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { CLI, TEST_CACHE } from '../helpers/paths.ts';

describeWith({ root: true, tools: ['setpriv', 'unshare', 'arch-test'] }, 'CLI errors', () => {
  const tmp = tempDir('cli-errors');
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function recipe(name: string, body: string): string {
    const file = path.join(tmp, `${name}.ts`);
    fs.writeFileSync(file, `import { defineRecipe } from '${path.resolve('pipeline/recipe/define.ts')}';\nexport default defineRecipe(${body});\n`);
    return file;
  }

  it('rejects an unknown package with did-you-mean, before bootstrapping', async () => {
    const out = path.join(tmp, 'out-gti');
    const r = await runCli(['build', recipe('gti', `{ packages: ['openssh-server', 'bash', 'curl', 'gti'] }`), '--out', out, '--cache-dir', TEST_CACHE]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('packages[3]: "gti" is not in trixie main, trixie-updates main, trixie-security main (did you mean "git"?)');
    expect(fs.existsSync(out)).toBe(false);
    expect(r.stderr).not.toMatch(/bootstrap: start/);
  });

  it('rejects an unknown suite with did-you-mean', async () => {
    const r = await runCli(['build', recipe('trixy', `{ suite: 'trixy' }`), '--cache-dir', TEST_CACHE]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/suite: "trixy" is not a suite on http:\/\/deb\.debian\.org\/debian \(HTTP 404 for its InRelease\) \(did you mean "trixie"\?\)/);
  });

  it('rejects a schema error with its dot path', async () => {
    const r = await runCli(['build', recipe('port', `{ ssh: { port: 'twenty-four' } } as never`), '--cache-dir', TEST_CACHE]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('ssh.port: expected number, got the string "twenty-four"');
  });

  it('rejects an invalid --version and unknown options with usage', async () => {
    const bad = await runCli(['build', 'recipes/minimal.ts', '--version', '1.4']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--version: "1.4" is not a semantic version');
    const unknown = await runCli(['build', '--frobnicate']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--frobnicate'");
    const stage = await runCli(['build', '--stop-after', 'lunch']);
    expect(stage.exitCode).toBe(2);
    expect(stage.stderr).toMatch(/Allowed choices are bootstrap, steps, overlays, verify, pack/);
    // With --json, a usage error is a JSON line on stdout as well.
    const json = await runCli(['build', '--json', '--stop-after', 'lunch']);
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ event: 'error', kind: 'usage', message: expect.stringContaining("argument 'lunch' is invalid") });
  });

  it('names the Debian package of a missing host tool', async () => {
    // debootstrap lives in /usr/sbin: a PATH without it is a host without the package.
    const r = await runCli(['build', recipe('deboot', `{ bootstrapper: 'debootstrap', packages: ['openssh-server', 'git'] }`), '--cache-dir', TEST_CACHE], {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('error: debootstrap is not installed: apt-get install debootstrap');
  });

  it('refuses an architecture this machine cannot run, before anything is downloaded, naming what to install', async () => {
    // binfmt_misc is per user namespace since Linux 6.7: an empty one there is a machine without qemu.
    const file = recipe('arm', `{ architecture: 'arm64', packages: ['openssh-server', 'git', 'bash'] }`);
    const out = path.join(tmp, 'out-arm');
    const r = await execa(
      'unshare',
      [
        '--user',
        '--map-root-user',
        '--mount',
        'sh',
        '-c',
        'mount -t binfmt_misc none /proc/sys/fs/binfmt_misc && exec "$@"',
        'sh',
        process.execPath,
        CLI,
        'build',
        file,
        '--out',
        out,
        '--cache-dir',
        TEST_CACHE,
      ],
      { reject: false, env: { CI: '1' }, stdin: 'ignore' },
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('error: this amd64 machine cannot run arm64 programs (arch-test: arm64: not supported on this machine/kernel)');
    expect(r.stderr).toContain('apt-get install qemu-user-static binfmt-support');
    expect(r.stderr).not.toMatch(/bootstrap: start/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('says to run as root when it is not', async () => {
    fs.chmodSync(tmp, 0o755); // mkdtemp made it 0700; nobody must reach its cache inside
    const cache = path.join(tmp, 'nobody-cache');
    fs.mkdirSync(cache, { mode: 0o777 });
    fs.chmodSync(cache, 0o777);
    const r = await runCli(['build', 'recipes/minimal.ts', '--cache-dir', cache, '--out', path.join(tmp, 'nobody-out')], {
      // Run as nobody, as a user who forgot sudo would.
      env: { HOME: cache },
      uid: 65534,
      gid: 65534,
    });
    expect(r.stderr).toMatch(/error: must run as root: mmdebstrap and systemd-nspawn need it\. Run it again with sudo/);
    expect(r.exitCode).toBe(2);
  });

  it('fails clearly, after retries, when the mirror is unreachable', async () => {
    const port = await closedPort();
    const r = await runCli(['build', recipe('nomirror', `{ mirror: 'http://127.0.0.1:${port}/debian' }`), '--cache-dir', TEST_CACHE], {
      env: { EB_FETCH_ATTEMPTS: '3', EB_FETCH_BACKOFF_MS: '10' },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/retry 2 in 20 ms/);
    expect(r.stderr).toContain(`cannot fetch http://127.0.0.1:${port}/debian/dists/trixie/InRelease: ECONNREFUSED (tried 3 times)`);
    expect(r.stderr).toContain("hint: check the network and the recipe's mirror URL");
  });

  it('names the repository, not the mirror, when an extra repository is unreachable', async () => {
    const port = await closedPort();
    const key = path.join(tmp, 'vendor.gpg');
    fs.copyFileSync('/usr/share/keyrings/debian-archive-keyring.gpg', key);
    const r = await runCli(
      [
        'build',
        recipe('norepo', `{ repositories: [{ name: 'vendor', uri: 'http://127.0.0.1:${port}/apt', suites: ['stable'], key: ${JSON.stringify(key)} }] }`),
        '--cache-dir',
        TEST_CACHE,
      ],
      { env: { EB_FETCH_ATTEMPTS: '2', EB_FETCH_BACKOFF_MS: '10' } },
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`repositories[0] (vendor): cannot fetch http://127.0.0.1:${port}/apt/dists/stable/InRelease: ECONNREFUSED (tried 2 times)`);
    expect(r.stderr).toContain(`hint: check that this machine can reach http://127.0.0.1:${port}/apt (repositories[0].uri)`);
  });
});

/** A loopback port nothing listens on: bind a free one, then close it. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
