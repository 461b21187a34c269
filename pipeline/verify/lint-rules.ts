// The image lint: static checks on the finished tree. Each rule names what is wrong and how to fix
// it; verify fails the build on any finding. Rules read the tree through ImageRoot, so symlinks
// resolve inside the image. Reads: user, binds.
import fs from 'node:fs';
import { DOTFILES, offends } from '../login-dotfiles.ts';
import { CONTAINER_INIT, homeOf, KEY_DIR, SSHD_DROP_IN, templateOf } from '../image-contract.ts';
import type { ImageRoot } from '../overlay/image-root.ts';
import type { Recipe } from '../recipe/schema.ts';
import { CHUNK, forEachChunk } from '../util/read-chunks.ts';
import { walkTree } from '../util/tree-digest.ts';

export interface Finding {
  rule: string;
  message: string;
  fix: string;
}

export interface LintRule {
  id: string;
  check(image: ImageRoot, recipe: Recipe): Finding[];
}

const finding = (rule: string, message: string, fix: string): Finding => ({ rule, message, fix });

/** Private keys are PEM/OpenSSH text; files larger than this are binaries or archives, not keys. */
const KEY_SCAN_MAX_BYTES = CHUNK;
const KEY_MARKER = 'PRIVATE KEY-----';
/**
 * A PEM or OpenSSH private key: the BEGIN line followed (after optional PEM headers) by base64.
 * ssh binaries contain the BEGIN line alone as a string constant; they are not keys.
 */
export const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n(?:[A-Za-z-]+: [^\n]*\r?\n)*\r?\n?[A-Za-z0-9+/=]{40,}/;

const userRule: LintRule = {
  id: 'user',
  check(image, { user }) {
    const line = image
      .readText('/etc/passwd')
      .split('\n')
      .find((l) => l.startsWith(`${user.name}:`));
    if (!line) return [finding('user', `/etc/passwd has no entry for ${user.name}`, 'keep the builder-user overlay in the recipe')];
    const [, , uid, gid, , home, shell] = line.split(':');
    const out: Finding[] = [];
    if (uid !== String(user.uid) || gid !== String(user.gid)) {
      out.push(
        finding(
          'user',
          `${user.name} has uid:gid ${uid}:${gid}, the recipe says ${user.uid}:${user.gid}`,
          'let the builder-user overlay write the entry; remove other overlays that edit /etc/passwd',
        ),
      );
    }
    if (home !== `/home/${user.name}`)
      out.push(finding('user', `${user.name}'s home is ${home}`, `the home must be /home/${user.name}, the tmpfs mount point`));
    if (shell !== user.shell)
      out.push(finding('user', `${user.name}'s shell is ${shell}, the recipe says ${user.shell}`, 'keep user.shell and the passwd entry in step'));
    if (!image.exists(user.shell))
      out.push(finding('user', `login shell ${user.shell} is not in the image`, `add the package providing ${user.shell} to packages`));
    const group = image
      .readText('/etc/group')
      .split('\n')
      .find((l) => l.startsWith(`${user.name}:`));
    if (group?.split(':')[2] !== String(user.gid))
      out.push(finding('user', `/etc/group has no ${user.name} group with gid ${user.gid}`, 'keep the builder-user overlay in the recipe'));
    return out;
  },
};

const homeRule: LintRule = {
  id: 'home',
  check(image, { user }) {
    const out: Finding[] = [];
    const home = homeOf(user.name);
    const template = templateOf(user.name);
    if (!image.exists(home))
      out.push(finding('home', `${home} is missing`, 'it must exist, empty: nspawn cannot create the tmpfs mount point on a read-only root'));
    else if (image.list(home).length)
      out.push(
        finding(
          'home',
          `${home} is not empty (${image.list(home).slice(0, 3).join(', ')})`,
          'put home contents in the template; the tmpfs hides anything here',
        ),
      );
    if (!image.exists(template)) return [...out, finding('home', `${template} is missing`, 'keep the template-home overlay in the recipe')];
    const st = fs.statSync(image.resolve(template));
    if (st.uid !== user.uid || st.gid !== user.gid)
      out.push(finding('home', `${template} is owned by ${st.uid}:${st.gid}, not ${user.uid}:${user.gid}`, 'let the template-home overlay create it'));
    // container-init copies the template as `cp -a` would: the home gets the template's owner and mode.
    if ((st.mode & 0o7777) !== 0o700)
      out.push(finding('home', `${template} has mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, not 0700`, 'let the template-home overlay create it'));
    for (const e of walkTree(image.resolve(template))) {
      if (e.st.uid !== user.uid) out.push(finding('home', `${template}/${e.relPath} is owned by uid ${e.st.uid}`, `chown it to ${user.uid}`));
      if (e.st.mode & 0o002) out.push(finding('home', `${template}/${e.relPath} is world-writable`, 'chmod o-w'));
    }
    return out;
  },
};

const dotfilesRule: LintRule = {
  id: 'dotfiles',
  check(image, { user }) {
    const files = [...DOTFILES, ...['.bash_logout', '.bashrc', '.profile', '.bash_profile', '.bash_login'].map((f) => `${templateOf(user.name)}/${f}`)];
    const out: Finding[] = [];
    for (const file of files) {
      const text = image.readTextIfExists(file);
      if (text === undefined) continue;
      text.split('\n').forEach((line, i) => {
        if (offends(line))
          out.push(
            finding(
              'dotfiles',
              `${file}:${i + 1} runs "${line.trim()}", which needs a terminal or prints in bash -l`,
              'keep the dotfiles overlay before template-home, or remove the line',
            ),
          );
      });
    }
    return out;
  },
};

const privateKeysRule: LintRule = {
  id: 'private-keys',
  check(image) {
    const out: Finding[] = [];
    for (const e of walkTree(image.root)) {
      if (!e.st.isFile()) continue;
      if (/^etc\/ssh\/ssh_host_.*_key$/.test(e.relPath)) {
        out.push(finding('private-keys', `/${e.relPath} is an ssh host key`, 'keep the hygiene overlay last: host keys are made per host at install time'));
        continue;
      }
      if (e.st.size > KEY_SCAN_MAX_BYTES || e.st.size === 0) continue;
      // Only a file with the marker's tail in it is turned into a string for the full pattern.
      let key = false;
      forEachChunk(e.full, (chunk) => {
        key ||= chunk.includes(KEY_MARKER) && PRIVATE_KEY.test(chunk.toString('latin1'));
      });
      if (key)
        out.push(
          finding(
            'private-keys',
            `/${e.relPath} contains a private key`,
            'remove it from the overlay or package that ships it; keys must never be in an image',
          ),
        );
    }
    return out;
  },
};

const machineIdRule: LintRule = {
  id: 'machine-id',
  check(image) {
    const id = image.readTextIfExists('/etc/machine-id');
    if (id === undefined)
      return [finding('machine-id', '/etc/machine-id is missing', 'ship it empty (the hygiene overlay does): nspawn gives each container its own id')];
    return id.trim()
      ? [finding('machine-id', `/etc/machine-id is set (${id.trim().slice(0, 8)}…): every container would share it`, 'keep the hygiene overlay last')]
      : [];
  },
};

const specialFilesRule: LintRule = {
  id: 'special-files',
  check(image) {
    const out: Finding[] = [];
    for (const e of walkTree(image.root)) {
      const kind = e.st.isCharacterDevice() || e.st.isBlockDevice() ? 'device node' : e.st.isSocket() ? 'socket' : e.st.isFIFO() ? 'fifo' : '';
      if (kind) out.push(finding('special-files', `/${e.relPath} is a ${kind}`, 'remove it: nspawn provides /dev, and packages cannot carry special files'));
    }
    return out;
  },
};

const sshdRule: LintRule = {
  id: 'sshd',
  check(image) {
    const out: Finding[] = [];
    if (!image.exists('/usr/sbin/sshd')) out.push(finding('sshd', '/usr/sbin/sshd is missing', 'add openssh-server to packages'));
    if (!image.exists(SSHD_DROP_IN)) out.push(finding('sshd', `${SSHD_DROP_IN} is missing`, 'keep the sshd overlay in the recipe'));
    const keyDir = image.resolve(KEY_DIR);
    if (!fs.existsSync(keyDir) || !fs.statSync(keyDir).isDirectory())
      out.push(finding('sshd', `${KEY_DIR} (host key mount point) is missing`, 'keep the sshd overlay in the recipe'));
    else if (fs.readdirSync(keyDir).length) out.push(finding('sshd', `${KEY_DIR} is not empty`, "it is a mount point for the host's keys; ship it empty"));
    return out;
  },
};

const toolsRule: LintRule = {
  id: 'tools',
  check(image, recipe) {
    const out: Finding[] = [];
    if (!image.exists('/usr/bin/git')) out.push(finding('tools', 'git is not in the image: GitLab Runner clones with it', 'add git to packages'));
    const init = image.resolve(CONTAINER_INIT);
    if (!fs.existsSync(init) || !(fs.statSync(init).mode & 0o100))
      out.push(finding('tools', `${CONTAINER_INIT} is missing or not executable`, 'keep the container-init overlay in the recipe'));
    for (const bind of recipe.binds) {
      const target = bind.target ?? bind.source;
      if (!image.exists(target))
        out.push(finding('tools', `bind target ${target} has no mount point in the image`, 'keep the container-init overlay in the recipe'));
    }
    return out;
  },
};

export const LINT_RULES: LintRule[] = [userRule, homeRule, dotfilesRule, privateKeysRule, machineIdRule, specialFilesRule, sshdRule, toolsRule];

export function lintImage(image: ImageRoot, recipe: Recipe): Finding[] {
  return LINT_RULES.flatMap((rule) => rule.check(image, recipe));
}
