// The host tool (<name>ctl) on a host install.sh set up in a scratch root (EB_ROOT), with two
// releases installed: list, status, gc and use against processes that look like live containers,
// known-hosts, runner-config, --help, and refusing an incomplete image.
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/env.ts';
import { ctl, currentOf, installSh, makeRelease, newHostRoot, tempDir, testRecipe, writeFakeImage, type Release } from './host-fixture.ts';

const NAME = 'ebtest';
const v1 = testRecipe({ name: NAME, version: '1.0.0', ssh: { port: 2424 }, limits: { maxConnections: 6 } });
const v2 = testRecipe({ name: NAME, version: '1.1.0', ssh: { port: 2424 }, limits: { maxConnections: 6, homeSize: '2G' } });
const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
});

describeWith({ root: true, tools: ['tar', 'zstd', 'ssh-keygen', 'systemctl', 'dpkg-query'] }, 'the host tool on an install.sh host', () => {
  let r: string;
  let rel1: Release;
  let rel2: Release;
  let fakeNspawn: string;
  beforeAll(async () => {
    rel1 = await makeRelease(v1);
    rel2 = await makeRelease(v2);
    cleanup.push(rel1.dir, rel2.dir);
    r = newHostRoot();
    cleanup.push(r);
    expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
    expect((await installSh(rel2, r, ['upgrade', rel2.tarball])).exitCode).toBe(0);
    // A process that looks like a container of this host to the host tool: argv[0] is
    // systemd-nspawn and it carries --machine= and --directory= as the spawn helper passes them.
    const bin = tempDir('eb-fake-nspawn');
    cleanup.push(bin);
    fakeNspawn = path.join(bin, 'systemd-nspawn');
    fs.copyFileSync('/bin/sh', fakeNspawn);
    fs.chmodSync(fakeNspawn, 0o755);
  });

  // A shell waiting on its stdin (a builtin read, so no child outlives it when it is killed).
  function fakeContainer(version: string): ResultPromise {
    return execa(fakeNspawn, ['-c', 'read -r x', `--machine=${NAME}-1-4242`, `--directory=${path.join(r, 'usr/lib', NAME, 'images', version)}`], {
      reject: false,
      stdin: 'pipe',
      stdout: 'ignore',
      stderr: 'ignore',
    });
  }

  it('list marks current, previous and the installer', async () => {
    const res = await ctl(r, NAME, ['list']);
    expect(res.exitCode, res.all).toBe(0);
    expect(res.stdout).toMatch(/^1\.0\.0\s+previous\s+install\.sh$/m);
    expect(res.stdout).toMatch(/^1\.1\.0\s+current\s+install\.sh$/m);
  });

  it('status and list show a live container and the image it uses', async () => {
    const proc = fakeContainer('1.0.0');
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const status = await ctl(r, NAME, ['status']);
      expect(status.stdout).toContain('containers: 1');
      expect(status.stdout).toMatch(new RegExp(`${NAME}-1-4242\\s+image 1\\.0\\.0\\s+pid ${proc.pid}`));
      const list = await ctl(r, NAME, ['list']);
      expect(list.stdout).toMatch(/^1\.0\.0\s+previous, in use \(1\)/m);
    } finally {
      proc.kill('SIGKILL');
      await proc;
    }
  });

  it('gc never removes the current image or one a container uses, and removes the rest', async () => {
    const proc = fakeContainer('1.0.0');
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const kept = await ctl(r, NAME, ['gc', '--keep', '0']);
      expect(kept.exitCode, kept.all).toBe(0);
      expect(kept.stdout).toContain(`keeping 1.0.0: in use by ${NAME}-1-4242`);
      expect(kept.stdout).toContain('keeping 1.1.0: current');
      expect(fs.existsSync(path.join(r, `usr/lib/${NAME}/images/1.0.0`))).toBe(true);
    } finally {
      proc.kill('SIGKILL');
      await proc;
    }
    const dry = await ctl(r, NAME, ['gc', '--keep', '0', '--dry-run']);
    expect(dry.all).toContain('would run: mv -T');
    expect(fs.existsSync(path.join(r, `usr/lib/${NAME}/images/1.0.0`))).toBe(true);
    const gone = await ctl(r, NAME, ['gc', '--keep', '0']);
    expect(gone.exitCode, gone.all).toBe(0);
    expect(gone.stdout).toContain('removing 1.0.0');
    expect(fs.readdirSync(path.join(r, `usr/lib/${NAME}/images`))).toEqual(['1.1.0']);
    // The previous link pointed at the removed image: rollback now says so instead of breaking.
    expect(fs.existsSync(path.join(r, `var/lib/${NAME}/previous`))).toBe(false);
    expect((await ctl(r, NAME, ['rollback'])).all).toContain('no previous image');
    // Put 1.0.0 back for the tests that follow.
    expect((await installSh(rel1, r, ['install', rel1.tarball])).exitCode).toBe(0);
    expect((await ctl(r, NAME, ['use', '1.1.0'])).exitCode).toBe(0);
  });

  it('use switches atomically: a reader never finds current missing or dangling', async () => {
    const link = path.join(r, `var/lib/${NAME}/current`);
    const stopFile = path.join(r, 'stop-reader');
    // A separate process resolving the link in a tight loop, as connections do.
    const reader = execa(process.execPath, [
      '-e',
      `
      const fs = require('node:fs');
      let reads = 0, bad = 0;
      while (!fs.existsSync(process.argv[2])) {
        try { fs.statSync(process.argv[1] + '/etc/release-marker'); } catch { bad++; }
        reads++;
      }
      console.log(JSON.stringify({ reads, bad }));`,
      link,
      stopFile,
    ]);
    try {
      for (let i = 0; i < 30; i++) {
        const res = await ctl(r, NAME, ['use', i % 2 ? '1.1.0' : '1.0.0']);
        expect(res.exitCode, res.all).toBe(0);
      }
    } finally {
      fs.writeFileSync(stopFile, '');
    }
    const { reads, bad } = JSON.parse((await reader).stdout) as { reads: number; bad: number };
    fs.rmSync(stopFile);
    expect(reads).toBeGreaterThan(1000);
    expect(bad).toBe(0);
    expect(currentOf(r, NAME)).toMatch(/\/1\.1\.0$/);
  });

  it('known-hosts prints [host]:port lines for every host key and writes the file runner-config names', async () => {
    fs.rmSync(path.join(r, `etc/${NAME}/runner/known_hosts`));
    const res = await ctl(r, NAME, ['known-hosts']);
    expect(res.exitCode, res.all).toBe(0);
    const lines = res.stdout.trim().split('\n');
    const pubs = ['ecdsa', 'rsa', 'ed25519'].map((t) =>
      fs
        .readFileSync(path.join(r, `etc/${NAME}/ssh/ssh_host_${t}_key.pub`), 'utf8')
        .split(' ')
        .slice(0, 2)
        .join(' '),
    );
    expect(lines).toEqual(pubs.map((p) => `[127.0.0.1]:2424 ${p}`));
    expect(fs.readFileSync(path.join(r, `etc/${NAME}/runner/known_hosts`), 'utf8')).toBe(`${res.stdout.trim()}\n`);
    // RUNNER_HOST in the config names the host the runner uses.
    const conf = path.join(r, `etc/${NAME}/${NAME}.conf`);
    const saved = fs.readFileSync(conf, 'utf8');
    fs.writeFileSync(conf, saved.replace(/^RUNNER_HOST=$/m, 'RUNNER_HOST=builds.example.org'));
    try {
      expect((await ctl(r, NAME, ['known-hosts', '--print'])).stdout).toMatch(/^\[builds\.example\.org\]:2424 ecdsa-sha2-nistp256 /);
    } finally {
      fs.writeFileSync(conf, saved);
    }
  });

  it('runner-config prints the [[runners]] block and the register command with the socket limit', async () => {
    const res = await ctl(r, NAME, ['runner-config', '--url', 'https://gitlab.example.org/', '--token', 'glrt-abc']);
    expect(res.exitCode, res.all).toBe(0);
    const out = res.stdout;
    for (const line of [
      '[[runners]]',
      'executor = "ssh"',
      'limit = 6',
      'url = "https://gitlab.example.org/"',
      'token = "glrt-abc"',
      'builds_dir = "/home/builder/builds"',
      'cache_dir = "/home/builder/cache"',
      '[runners.ssh]',
      'host = "127.0.0.1"',
      'port = "2424"',
      'user = "builder"',
      `identity_file = "/etc/${NAME}/runner/id_ed25519"`,
      `known_hosts_file = "/etc/${NAME}/runner/known_hosts"`,
      'disable_strict_host_key_checking = false',
    ]) {
      expect(out).toContain(line);
    }
    for (const flag of [
      '--non-interactive',
      '--executor ssh',
      '--limit 6',
      "--ssh-host '127.0.0.1'",
      '--ssh-port 2424',
      '--ssh-user builder',
      `--ssh-identity-file /etc/${NAME}/runner/id_ed25519`,
      `--ssh-known-hosts-file /etc/${NAME}/runner/known_hosts`,
    ]) {
      expect(out).toContain(flag);
    }
  });

  it('answers --help, and unknown commands with usage and exit 2', async () => {
    const help = await ctl(r, NAME, ['--help']);
    expect(help.exitCode).toBe(0);
    for (const cmd of ['status', 'list', 'use VERSION', 'rollback', 'gc', 'runner-config', 'known-hosts', 'shell', 'doctor'])
      expect(help.stdout).toContain(cmd);
    const bad = await ctl(r, NAME, ['frobnicate']);
    expect(bad.exitCode).toBe(2);
  });

  it('refuses to use an image that is there but incomplete', async () => {
    const broken = path.join(r, `usr/lib/${NAME}/images/1.2.0`);
    writeFakeImage(broken);
    fs.rmSync(path.join(broken, 'usr/lib/ephemeral-builder/container-init'));
    const before = currentOf(r, NAME);
    try {
      const res = await ctl(r, NAME, ['use', '1.2.0']);
      expect(res.exitCode).not.toBe(0);
      expect(res.all).toContain('not installed (or incomplete)');
      expect(currentOf(r, NAME)).toBe(before);
    } finally {
      fs.rmSync(broken, { recursive: true });
    }
  });
});
