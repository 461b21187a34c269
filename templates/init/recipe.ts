// The image this repository builds and releases: Debian 13 (trixie) with its security and updates
// suites, the packages your jobs need, and your own overlay. Every field, its default and its
// rules: node_modules/ephemeral-builder/docs/recipe-reference.md
import { defineRecipe } from 'ephemeral-builder';

export default defineRecipe({
  name: '@NAME@',
  version: '0.1.0',
  suite: 'trixie',
  // sshd, git and bash are what GitLab Runner needs; add what your jobs build with
  // (build-essential, ca-certificates, curl, a language runtime...).
  packages: ['openssh-server', 'git', 'bash'],
  user: { name: 'builder', uid: 9000, gid: 9000 },
  ssh: { listenAddress: '127.0.0.1', port: 24 },
  limits: { homeSize: '2G', memory: '4G', tasks: 1024, cpu: '200%', runtime: '3h', maxConnections: 4 },
  // Your overlays go before hygiene, which must stay last.
  overlays: ['builder-user', 'dotfiles', 'template-home', 'sshd', 'container-init', './overlays/team', 'hygiene'],
});
