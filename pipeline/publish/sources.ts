// The example deb822 .sources file an admin drops into /etc/apt/sources.list.d/, pointing
// Signed-By at the exported keyring, so that apt trusts this key for this repository only.

export const PLACEHOLDER_URI = 'https://apt.example.invalid/';

export function keyringFileName(name: string): string {
  return `${name}-archive-keyring.gpg`;
}

export function keyringInstallPath(name: string): string {
  return `/usr/share/keyrings/${keyringFileName(name)}`;
}

export function renderSources(o: { name: string; uri?: string; suite: string; component: string }): string {
  const uri = o.uri ?? PLACEHOLDER_URI;
  return [
    `# apt source for ${o.name}. Install with:`,
    `#   cp ${keyringFileName(o.name)} ${keyringInstallPath(o.name)}`,
    `#   cp ${o.name}.sources /etc/apt/sources.list.d/`,
    ...(o.uri ? [] : ['# and replace the URIs line with where this repository is served.']),
    'Types: deb',
    `URIs: ${uri}`,
    `Suites: ${o.suite}`,
    `Components: ${o.component}`,
    `Signed-By: ${keyringInstallPath(o.name)}`,
    '',
  ].join('\n');
}
