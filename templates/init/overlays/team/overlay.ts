// Overlay team: what every job of your team should find in the image. files/ is copied into the
// image as it is; apply() runs after it, with the image root and the resolved recipe.
import { defineOverlay } from 'ephemeral-builder';

export default defineOverlay({
  description: 'team defaults: git settings and the job environment',
  apply({ image, log }) {
    image.writeFile('/etc/gitconfig', '[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n', { mode: 0o644 });
    log('wrote /etc/gitconfig');
  },
});
