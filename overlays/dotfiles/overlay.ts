// Overlay dotfiles: sanitizes the login-shell files of the template home (from /etc/skel) and of
// root so that `bash -l` with a script on stdin and no terminal prints nothing and exits with the
// script's status. Reads: nothing from the recipe.
import { DOTFILES, sanitize } from '../../pipeline/login-dotfiles.ts';
import { defineOverlay } from '../../pipeline/overlay/define.ts';

export default defineOverlay({
  description: 'removes clear_console, mesg, bash-completion and other terminal-only lines from login dotfiles',
  apply({ image, log }) {
    for (const file of DOTFILES) {
      const text = image.readTextIfExists(file);
      if (text === undefined) continue;
      const result = sanitize(text);
      if (result.removed.length === 0) continue;
      image.writeFile(file, result.text, { mode: 0o644 });
      for (const line of result.removed) log(`${file}: disabled "${line}"`);
    }
  },
});
