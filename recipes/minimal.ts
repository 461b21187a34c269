// The smallest useful builder, for fast tests: sshd, git and bash on trixie minbase.
import { defineRecipe } from '../pipeline/recipe/define.ts';

export default defineRecipe({
  name: 'ephemeral-builder',
  version: '1.0.0',
  suite: 'trixie',
  packages: ['openssh-server', 'git', 'bash'],
  limits: { homeSize: '256M', memory: '1G', tasks: 256, maxConnections: 4 },
});
