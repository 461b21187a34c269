// The login-shell dotfiles of an image, and what in them breaks a job: GitLab Runner runs each stage
// as `bash -l` with the script on stdin and no terminal, so anything that needs a terminal, reads
// stdin or prints breaks jobs (clear_console in .bash_logout turns every stage's status into 1).
// The dotfiles overlay sanitizes them and verify's lint checks them, both from here. Offending
// lines become ":" no-ops, and offending if/elif conditions become "false", rather than being
// deleted, so the surrounding blocks stay valid shell.

/** The system-wide and skeleton login files a `bash -l` of the builder or root reads. */
export const DOTFILES = [
  '/etc/skel/.bash_logout',
  '/etc/skel/.bashrc',
  '/etc/skel/.profile',
  '/root/.profile',
  '/root/.bashrc',
  '/etc/bash.bashrc',
  '/etc/profile',
  '/etc/bash.bash_logout',
];

export const MARK = '# ephemeral-builder: disabled for non-interactive GitLab Runner shells:';

/** Commands that need a terminal, or print, when a login shell starts or ends. */
const TERMINAL_COMMANDS = ['clear_console', 'mesg', 'stty', 'tput', 'setterm', 'tabs', 'clear', 'reset', 'tset'];
const COMPLETION = /(bash_completion|bash-completion)/;

/** True when an uncommented line runs a terminal command or loads bash-completion. */
export function offends(line: string): boolean {
  // Only code counts: drop a comment (a "#" at the start of a word) and what follows it.
  const code = line.replace(/(^|\s)#.*$/, '').trim();
  if (code === '') return false;
  if (COMPLETION.test(code)) return true;
  const words = code.replace(/[;&|()[\]{}<>$"'`]/g, ' ').split(/\s+/);
  return words.some((w) => TERMINAL_COMMANDS.includes(w.replace(/^.*\//, '')));
}

export function sanitize(text: string): { text: string; removed: string[] } {
  const removed: string[] = [];
  const out = text.split('\n').map((line) => {
    if (!offends(line)) return line;
    removed.push(line.trim());
    const indent = /^\s*/.exec(line)?.[0] ?? '';
    const original = line.trim().replace(/\s+/g, ' ');
    const condition = /^\s*(if|elif)\s.*;\s*then\s*$/.exec(line);
    if (condition) return `${indent}${condition[1]} false; then ${MARK} ${original}`;
    return `${indent}: ${MARK} ${original}`;
  });
  return { text: out.join('\n'), removed };
}
