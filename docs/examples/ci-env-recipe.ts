// Example recipe (docs/overlays.md): the minimal builder plus the ci-env example overlay, placed
// before hygiene, which must stay last.
import { defineRecipe } from '../../pipeline/recipe/define.ts';
import minimal from '../../recipes/minimal.ts';

export default defineRecipe({ ...minimal, overlays: ['builder-user', 'dotfiles', 'template-home', 'sshd', 'container-init', './overlays/ci-env', 'hygiene'] });
