// Overlay sshd: a drop-in that makes the image's sshd fit for `sshd -i` behind a socket: public keys
// only, only the builder, no root, no forwarding of any kind, a short grace time and few tries
// before authentication, host keys and authorized_keys read from the key directory, which the
// host binds in read-only at run time (no key ships in the image), and no lastlog or motd, which
// fail on a read-only root. Reads: user.name.
import { KEY_DIR, SSHD_DROP_IN } from '../../pipeline/image-contract.ts';
import { defineOverlay } from '../../pipeline/overlay/define.ts';

export function sshdDropIn(user: string): string {
  return `# Installed by ephemeral-builder. Debian's sshd_config includes sshd_config.d/*.conf first,
# and sshd keeps the first value it reads, so these settings win.
# The host binds ${KEY_DIR} read-only: its own host keys and the runner's public key.
HostKey ${KEY_DIR}/ssh_host_ecdsa_key
HostKey ${KEY_DIR}/ssh_host_rsa_key
HostKey ${KEY_DIR}/ssh_host_ed25519_key
AuthorizedKeysFile ${KEY_DIR}/authorized_keys
AllowUsers ${user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin no
# The container is gone after the connection: nothing to forward to, and nothing to forward from.
DisableForwarding yes
AllowAgentForwarding no
AllowTcpForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitUserEnvironment no
PermitUserRC no
# Until it authenticates, a connection holds one of the host's container slots. A client that
# never does is cut off after 20 s (sshd's default is 120 s), one that offers key after key after
# 3 wrong ones (the runner offers one): idle or guessing connections, a job's own among them,
# cannot keep the next jobs out for long.
LoginGraceTime 20
MaxAuthTries 3
# PAM sessions and lastlog write to a read-only root; motd is noise in job logs.
UsePAM no
PrintMotd no
PrintLastLog no
`;
}

export default defineOverlay({
  description: 'adds the sshd drop-in (keys from the host, builder only, no forwarding) and the key mount point',
  apply({ image, recipe }) {
    image.writeFile(SSHD_DROP_IN, sshdDropIn(recipe.user.name), { mode: 0o644 });
    image.mkdir(KEY_DIR, { mode: 0o755 });
  },
});
