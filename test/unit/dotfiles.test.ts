// The dotfile sanitizers, run on Debian's real skel and root files (trixie and bookworm), and the
// effect that matters: GitLab Runner's `bash -l` layout exits 0 with the sanitized files and 1 with
// the stock .bash_logout (clear_console fails without a terminal).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { offends, sanitize } from '../../pipeline/login-dotfiles.ts';
import { runnerScript } from '../../pipeline/verify/session.ts';
import { REPO } from '../helpers/paths.ts';

const FIXTURES = path.join(REPO, 'test/fixtures/skel');
const read = (rel: string) => fs.readFileSync(path.join(FIXTURES, rel), 'utf8');

describe('sanitize', () => {
  for (const release of ['trixie', 'bookworm']) {
    it(`disables clear_console in ${release}'s .bash_logout and keeps it valid shell`, async () => {
      const { text, removed } = sanitize(read(`${release}/bash_logout`));
      expect(removed).toEqual(['[ -x /usr/bin/clear_console ] && /usr/bin/clear_console -q']);
      expect(text.split('\n').filter(offends)).toEqual([]);
      await execa('bash', ['-n'], { input: text });
    });

    it(`disables bash-completion and tput in ${release}'s .bashrc`, async () => {
      const { text, removed } = sanitize(read(`${release}/bashrc`));
      expect(removed).toContain('. /usr/share/bash-completion/bash_completion');
      expect(removed.some((l) => l.includes('tput'))).toBe(true);
      expect(text.split('\n').filter(offends)).toEqual([]);
      await execa('bash', ['-n'], { input: text });
    });
  }

  it('disables mesg n in bookworm root .profile', () => {
    const { text, removed } = sanitize(read('bookworm/root-profile'));
    expect(removed).toEqual(['mesg n 2> /dev/null || true']);
    expect(text).not.toMatch(/^mesg/m);
  });

  it('leaves files without offending lines byte-identical', () => {
    for (const f of ['trixie/profile', 'trixie/root-profile', 'trixie/root-bashrc']) expect(sanitize(read(f)).text).toBe(read(f));
  });

  it('ignores commented-out commands and matches whole words only', () => {
    expect(offends('#mesg n')).toBe(false);
    expect(offends('echo hi # clear')).toBe(false);
    expect(offends('export CLEARANCE=1')).toBe(false);
    expect(offends('  stty -echo')).toBe(true);
    expect(offends('x=$(tput cols)')).toBe(true);
  });
});

describe('bash -l as GitLab Runner runs it', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'eb-home-'));
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));
  const script = runnerScript(['echo job-ran']);
  // SHLVL=0: the login shell becomes level 1, as it is under sshd, which is when .bash_logout acts.
  const run = () => execa('bash', ['-l'], { input: script, reject: false, env: { HOME: home, SHLVL: '0', TERM: 'dumb' }, extendEnv: false });

  it('fails with the stock .bash_logout: clear_console needs a terminal', async () => {
    fs.writeFileSync(path.join(home, '.bash_logout'), read('trixie/bash_logout'));
    fs.writeFileSync(path.join(home, '.profile'), read('trixie/profile'));
    fs.writeFileSync(path.join(home, '.bashrc'), read('trixie/bashrc'));
    const r = await run();
    expect(r.stdout.startsWith('job-ran')).toBe(true);
    expect(r.exitCode).toBe(1);
  });

  it('exits 0 with nothing extra printed once sanitized', async () => {
    for (const [file, fixture] of [
      ['.bash_logout', 'bash_logout'],
      ['.profile', 'profile'],
      ['.bashrc', 'bashrc'],
    ]) {
      fs.writeFileSync(path.join(home, file as string), sanitize(read(`trixie/${fixture}`)).text);
    }
    const r = await run();
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('job-ran');
    expect(r.stderr).toBe('');
  });
});
