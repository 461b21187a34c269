// Stage verify: the image lint (static rules over the tree) and a real session (the hosts' spawn
// helper, sshd -i, ssh, bash -l as GitLab Runner runs it). Any finding fails the build with its
// fix. On success it records what the manifest needs: the tree digest, the installed packages, the
// size.
// Reads: user, binds (through the rules); name, limits, binds (through the rendered spawn helper).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StageError } from '../errors.ts';
import { requireTools } from '../build-machine.ts';
import { homeOf } from '../image-contract.ts';
import { ImageRoot } from '../overlay/image-root.ts';
import { installedPackages } from '../sbom/dpkg-status.ts';
import type { RootfsTree, Stage, VerifiedTree } from '../stage.ts';
import { ToolFailed } from '../util/exec.ts';
import { treeDigest } from '../util/tree-digest.ts';
import { lintImage, LINT_RULES, type Finding } from '../verify/lint-rules.ts';
import { layOutHost, MARKER, renderedSpawn, runnerScript, runnerSession, sshdConfigTest, VERIFY_BODY } from '../verify/session.ts';

export const verifyStage: Stage<RootfsTree, VerifiedTree> = {
  name: 'verify',
  version: 1,
  title: 'Verify the image',

  verify() {
    requireTools(['systemd-nspawn', 'ssh', 'ssh-keygen']);
  },

  cacheKey(r) {
    return {
      rules: LINT_RULES.map((rule) => rule.id),
      user: r.user,
      binds: r.binds,
      session: VERIFY_BODY,
      spawn: createHash('sha256').update(renderedSpawn(r)).digest('hex'),
    };
  },

  async run(input, ctx) {
    const { recipe } = ctx;
    const image = new ImageRoot(input.rootfs);
    ctx.progress('lint');
    const findings = lintImage(image, recipe);
    if (findings.length) throw failure(findings);

    ctx.progress('sshd -t and a GitLab Runner style session');
    const host = await layOutHost(path.join(ctx.workDir, 'verify-host'), recipe, input.rootfs, ctx.tools);
    try {
      await sshdConfigTest(host, ctx.tools);
    } catch (err) {
      if (!(err instanceof ToolFailed)) throw err;
      // sshd's own lines: not the command, spawn's line about the container, or nspawn's about
      // the propagation directory it leaves outside a booted systemd.
      const said = err.tail.filter((l) => !/^\$ |^\S+ spawn: connection |^Attempted to remove disk file system/.test(l));
      throw failure([
        {
          rule: 'sshd',
          message: `sshd -t rejects the configuration: ${said.slice(-3).join(' | ')}`,
          fix: `fix the sshd drop-in or the overlay that changed /etc/ssh`,
        },
      ]);
    }
    const sessionLog = path.join(ctx.workDir, 'logs', 'verify-session.log');
    const session = await runnerSession(host, recipe.user.name, runnerScript(VERIFY_BODY), sessionLog);
    ctx.log(`session exit ${session.exitCode}\nstdout:\n${session.stdout}\nstderr:\n${session.stderr}`);
    if (fs.existsSync(sessionLog)) ctx.log(`container stderr:\n${fs.readFileSync(sessionLog, 'utf8')}`);
    const expected = `${MARKER} user=${recipe.user.name} uid=${recipe.user.uid} home=${homeOf(recipe.user.name)}\n${MARKER} done`;
    const sessionFindings: Finding[] = [];
    if (session.exitCode !== 0) {
      sessionFindings.push({
        rule: 'session',
        message: `bash -l over ssh exited ${session.exitCode}${session.stderr ? `: ${session.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`,
        fix: 'a login profile fails without a terminal (clear_console, mesg, stty), or sshd refused the login; see the verify log',
      });
    } else if (session.stdout.trim() !== expected || session.stderr.trim() !== '') {
      sessionFindings.push({
        rule: 'session',
        message: `bash -l printed unexpected output: ${JSON.stringify((session.stdout + session.stderr).slice(0, 400))}`,
        fix: 'remove whatever prints from the login profile (/etc/profile, /etc/profile.d, ~/.profile, ~/.bashrc)',
      });
    }
    if (sessionFindings.length) throw failure(sessionFindings);

    ctx.progress('tree digest');
    const summary = await treeDigest(input.rootfs);
    return { rootfs: input.rootfs, treeDigest: summary.digest, packages: installedPackages(image), sizeBytes: summary.bytes, fileCount: summary.files };
  },
};

function failure(findings: Finding[]): StageError {
  const lines = findings.map((f) => `[${f.rule}] ${f.message}\n    fix: ${f.fix}`);
  return new StageError('verify', `the image failed ${findings.length} check${findings.length === 1 ? '' : 's'}:\n  ${lines.join('\n  ')}`);
}
