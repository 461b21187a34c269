// The default builder: the tutorial's image on today's Debian stable (trixie, 13), minbase plus the
// tutorial's packages, user builder (9000:9000), listening on 127.0.0.1:24, 4 concurrent containers.
import { defineRecipe } from '../pipeline/recipe/define.ts';

export default defineRecipe({
  name: 'ephemeral-builder',
  version: '1.0.0',
  suite: 'trixie',
  architecture: 'amd64',
  mirror: 'http://deb.debian.org/debian',
  components: ['main'],
  variant: 'minbase',
  bootstrapper: 'mmdebstrap',
  packages: ['dbus', 'systemd-container', 'openssh-server', 'build-essential', 'git', 'composer', 'rsync', 'wget', 'curl'],
  user: { name: 'builder', uid: 9000, gid: 9000, shell: '/bin/bash' },
  ssh: { listenAddress: '127.0.0.1', port: 24 },
  limits: { homeSize: '2G', memory: '4G', tasks: 1024, cpu: '200%', runtime: '3h', maxConnections: 4, addressSpace: '8G' },
  // The host's gitlab-runner binary, so artifacts and cache uploads work from the SSH executor.
  binds: [{ source: '/usr/bin/gitlab-runner', target: '/usr/local/bin/gitlab-runner', type: 'file', optional: true }],
});
