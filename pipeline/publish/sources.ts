// The example deb822 .sources file an admin drops into /etc/apt/sources.list.d/, pointing
// Signed-By at the keyring in /etc/apt/keyrings/, so that apt trusts this key for this repository
// only. The admin puts the downloaded keyring there once; the <name>-archive-keyring package then
// takes that file over and keeps it current through key rotations (keyring-package.ts).

export const PLACEHOLDER_URI = 'https://apt.example.invalid/';

export function keyringFileName(name: string): string {
  return `${name}-archive-keyring.gpg`;
}

export function keyringPackageName(name: string): string {
  return `${name}-archive-keyring`;
}

export function keyringInstallPath(name: string): string {
  return `/etc/apt/keyrings/${keyringFileName(name)}`;
}

export function renderSources(o: { name: string; uri?: string; suite: string; component: string }): string {
  const uri = o.uri ?? PLACEHOLDER_URI;
  return [
    `# apt source for ${o.name}. First-time setup, as root (compare the keyring's fingerprint with`,
    '# the one the project publishes first: gpg --show-keys FILE):',
    `#   install -D -m 0644 ${keyringFileName(o.name)} ${keyringInstallPath(o.name)}`,
    `#   install -m 0644 ${o.name}.sources /etc/apt/sources.list.d/`,
    `# Then ${keyringPackageName(o.name)}, which ${o.name} recommends, keeps that keyring current.`,
    ...(o.uri ? [] : ['# And replace the URIs line with where this repository is served.']),
    'Types: deb',
    `URIs: ${uri}`,
    `Suites: ${o.suite}`,
    `Components: ${o.component}`,
    `Signed-By: ${keyringInstallPath(o.name)}`,
    '',
  ].join('\n');
}
