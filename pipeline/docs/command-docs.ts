// The builder's man page (ephemeral-builder.1) and its bash completion, both generated from the
// commander definitions in pipeline/cli.ts, so that neither can drift from what the CLI accepts.
// The package build writes the man page (npm installs it from the package's "man" field);
// `ephemeral-builder completion` prints the completion script.
import type { Command, Option } from 'commander';

/** roff-escape text: backslashes, and a leading dot or quote that roff would read as a request. */
function roff(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^[.']/gm, '\\&$&');
}

function visibleOptions(cmd: Command): Option[] {
  return cmd.options.filter((o) => !o.hidden);
}

export function manPage(program: Command, version: string, date: string): string {
  const name = program.name();
  const out: string[] = [
    `.TH ${name.toUpperCase()} 1 "${date}" "${name} ${version}" "User Commands"`,
    '.SH NAME',
    `${name} \\- ${roff(program.description())}`,
    '.SH SYNOPSIS',
    ...program.commands.map((c) => `.B ${name} ${c.name()}\n${roff(c.usage())}\n.br`),
    '.SH DESCRIPTION',
    roff(
      'Builds an image and its artifacts (image and host .deb packages, a tarball with install.sh, an SBOM, manifest.json and SHA256SUMS) from a TypeScript recipe, publishes them to a signed apt repository, and tells what an image holds and whether it is behind its sources.',
    ),
    '.SH COMMANDS',
  ];
  for (const c of program.commands) {
    out.push(`.SS ${roff(`${c.name()} ${c.usage()}`)}`, roff(c.description()));
    for (const a of c.registeredArguments) out.push('.TP', `.I ${roff(a.name())}`, roff(a.description || ''));
    for (const o of visibleOptions(c)) {
      const shown = o.defaultValueDescription ?? (typeof o.defaultValue === 'string' ? o.defaultValue : undefined);
      const dflt = shown ? ` (default: ${shown})` : '';
      const choices = o.argChoices ? ` (one of ${o.argChoices.join(', ')})` : '';
      out.push('.TP', `.B ${roff(o.flags)}`, roff(`${o.description}${choices}${dflt}`));
    }
  }
  out.push(
    '.SH EXIT STATUS',
    roff(
      '0 success; 1 a build failed; 2 bad input or usage (a bad recipe, a missing tool, not root); 130 interrupted by SIGINT, 143 by SIGTERM. outdated: 0 nothing behind, 1 something behind, 2 an error.',
    ),
    '.SH ENVIRONMENT',
    '.TP',
    '.B CI',
    roff('plain timestamped progress lines instead of the live task list.'),
    '.TP',
    '.B XDG_CACHE_HOME',
    roff(`the cache directory's parent (default ~/.cache/${name}).`),
    '.SH SEE ALSO',
    roff(`${name}ctl(8), mmdebstrap(1), systemd-nspawn(1)`),
    '',
  );
  return out.join('\n');
}

/** A bash completion script: commands, then each command's options and their choices. */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const cases = program.commands.map((c) => {
    const opts = visibleOptions(c)
      .flatMap((o) => [o.long, o.short].filter(Boolean))
      .join(' ');
    const choices = visibleOptions(c)
      .filter((o) => o.argChoices)
      .map((o) => `      ${o.long}) COMPREPLY=($(compgen -W "${o.argChoices?.join(' ')}" -- "$cur")); return ;;`);
    const files = visibleOptions(c)
      .filter((o) => (o.required || o.optional) && !o.argChoices)
      .flatMap((o) => [o.long, o.short].filter(Boolean));
    return [
      `    ${c.name()})`,
      '      case "$prev" in',
      ...choices,
      ...(files.length ? [`      ${files.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`] : []),
      '      esac',
      `      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${opts} --help" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi`,
      '      ;;',
    ].join('\n');
  });
  return [
    `# bash completion for ${name}: ${name} completion > /etc/bash_completion.d/${name}`,
    `${fn}() {`,
    '  local cur prev cmd i',
    '  cur="${COMP_WORDS[COMP_CWORD]}"',
    '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  cmd=',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    case "${COMP_WORDS[i]}" in -*) ;; *) cmd="${COMP_WORDS[i]}"; break ;; esac',
    '  done',
    '  case "$cmd" in',
    `    '') COMPREPLY=($(compgen -W "${program.commands.map((c) => c.name()).join(' ')} --help --version" -- "$cur")) ;;`,
    ...cases,
    '  esac',
    '}',
    `complete -o filenames -F ${fn} ${name}`,
    '',
  ].join('\n');
}
