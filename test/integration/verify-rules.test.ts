// One planted defect per verify rule: each copy of a verified minimal image gets one defect, and
// the verify stage must fail naming it. The last cases plant what only the live session catches:
// a login profile that prints, and a .bash_logout that needs a terminal.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import minimal from '../../recipes/minimal.ts';
import type { StageContext } from '../../pipeline/stage.ts';
import { verifyStage } from '../../pipeline/stages/verify.ts';
import { ToolRunner } from '../../pipeline/util/exec.ts';
import { buildVerified, tempDir } from '../helpers/cli.ts';
import { describeWith } from '../helpers/env.ts';
import { resolvedRecipe } from '../helpers/recipe.ts';

describeWith({ root: true, tools: ['mmdebstrap', 'systemd-nspawn', 'ssh'] }, 'verify rules', () => {
  let golden: string;
  const dirs: string[] = [];
  beforeAll(async () => {
    const built = await buildVerified();
    golden = built.rootfs;
    dirs.push(built.out);
  });
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  const resolved = resolvedRecipe(minimal);

  /** A copy of the verified image with one defect planted, run through the verify stage. */
  async function verifyWith(plant: (root: string) => void | Promise<void>): Promise<string> {
    const work = tempDir('verify');
    dirs.push(work);
    const root = path.join(work, 'rootfs');
    await execa('cp', ['-a', golden, root]);
    await plant(root);
    const tools = new ToolRunner(path.join(work, 'verify.log'), () => {}, new AbortController().signal);
    fs.mkdirSync(path.join(work, 'logs'));
    const ctx: StageContext = {
      recipe: resolved,
      workDir: work,
      signal: new AbortController().signal,
      tools,
      progress: () => {},
      log: () => {},
      warn: () => {},
    };
    try {
      await verifyStage.run({ rootfs: root }, ctx);
    } catch (err) {
      return (err as Error).message;
    }
    return 'passed';
  }

  it('passes the unmodified image', async () => {
    expect(await verifyWith(() => {})).toBe('passed');
  });

  it('user: a wrong uid in /etc/passwd', async () => {
    expect(
      await verifyWith((r) => {
        const f = path.join(r, 'etc/passwd');
        fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('builder:x:9000:9000', 'builder:x:9001:9000'));
      }),
    ).toContain('[user] builder has uid:gid 9001:9000, the recipe says 9000:9000');
  });

  it('home: a file left in the tmpfs mount point, a missing template, a template not 0700', async () => {
    expect(await verifyWith((r) => fs.writeFileSync(path.join(r, 'home/builder/stray'), 'x'))).toContain('[home] /home/builder is not empty (stray)');
    expect(await verifyWith((r) => fs.rmSync(path.join(r, 'home/builder.template'), { recursive: true }))).toContain(
      '[home] /home/builder.template is missing',
    );
    expect(await verifyWith((r) => fs.chmodSync(path.join(r, 'home/builder.template'), 0o755))).toContain(
      '[home] /home/builder.template has mode 0755, not 0700',
    );
  });

  it('dotfiles: clear_console back in the template .bash_logout', async () => {
    expect(await verifyWith((r) => fs.appendFileSync(path.join(r, 'home/builder.template/.bash_logout'), '/usr/bin/clear_console -q\n'))).toMatch(
      /\[dotfiles\] \/home\/builder\.template\/\.bash_logout:\d+ runs "\/usr\/bin\/clear_console -q"/,
    );
  });

  it('private-keys: an ssh host key and a PEM key anywhere in the tree', async () => {
    const msg = await verifyWith(async (r) => {
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(r, 'etc/ssh/ssh_host_ed25519_key')]);
      await execa('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-f', path.join(r, 'opt-key')]);
    });
    expect(msg).toContain('[private-keys] /etc/ssh/ssh_host_ed25519_key is an ssh host key');
    expect(msg).toContain('[private-keys] /opt-key contains a private key');
  });

  it('machine-id: a set machine id', async () => {
    expect(await verifyWith((r) => fs.writeFileSync(path.join(r, 'etc/machine-id'), `${'f'.repeat(32)}\n`))).toContain(
      '[machine-id] /etc/machine-id is set (ffffffff…)',
    );
  });

  it('special-files: a device node and a fifo', async () => {
    const msg = await verifyWith(async (r) => {
      await execa('mknod', [path.join(r, 'dev/null'), 'c', '1', '3']);
      await execa('mkfifo', [path.join(r, 'var/pipe')]);
    });
    expect(msg).toContain('[special-files] /dev/null is a device node');
    expect(msg).toContain('[special-files] /var/pipe is a fifo');
  });

  it('sshd: a broken drop-in fails sshd -t', async () => {
    const msg = await verifyWith((r) => fs.appendFileSync(path.join(r, 'etc/ssh/sshd_config.d/ephemeral-builder.conf'), 'NoSuchOption yes\n'));
    expect(msg).toContain('[sshd] sshd -t rejects the configuration');
    expect(msg).toContain('NoSuchOption');
  });

  it('sshd: a key left in the key mount point', async () => {
    expect(await verifyWith((r) => fs.writeFileSync(path.join(r, 'etc/ssh/ephemeral/authorized_keys'), ''))).toContain(
      '[sshd] /etc/ssh/ephemeral is not empty',
    );
  });

  it('tools: git missing', async () => {
    expect(await verifyWith((r) => fs.rmSync(path.join(r, 'usr/bin/git')))).toContain('[tools] git is not in the image');
  });

  it('session: a login profile that prints', async () => {
    expect(await verifyWith((r) => fs.writeFileSync(path.join(r, 'etc/profile.d/zz-motd.sh'), 'echo "Welcome to the builder"\n'))).toMatch(
      /\[session\] bash -l printed unexpected output: "Welcome to the builder/,
    );
  });

  it("session: runs in the container a host starts (private users, the idmapped keys, the recipe's limits)", async () => {
    // A profile script that prints what the session sees, so that verify fails showing it.
    const probe = [
      'read -r _ base _ </proc/self/uid_map',
      'echo "probe: uid-base-$([ "$base" = 0 ] && echo host || echo private) keys $(stat -c %u:%g /etc/ssh/ephemeral/ssh_host_ed25519_key)' +
        ' nproc $(ulimit -u) as $(ulimit -v) home $(df -k --output=size /home/builder | tail -n 1 | tr -d " ")"',
    ].join('\n');
    const msg = await verifyWith((r) => fs.writeFileSync(path.join(r, 'etc/profile.d/zz-probe.sh'), `${probe}\n`));
    // recipes/minimal.ts: tasks 256, addressSpace 4G (in KiB), homeSize 256M (in KiB).
    expect(msg).toContain('[session] bash -l printed unexpected output: "probe: uid-base-private keys 0:0 nproc 256 as 4194304 home 262144');
  });

  it('session: a .bash_logout that needs a terminal, hidden from the lint', async () => {
    // A variable hides the command name from the static rule; only running it shows the damage.
    expect(await verifyWith((r) => fs.appendFileSync(path.join(r, 'home/builder.template/.bash_logout'), 'c=/usr/bin/clear_con; "${c}sole" -q\n'))).toMatch(
      /\[session\] bash -l over ssh exited 1/,
    );
  });
});
