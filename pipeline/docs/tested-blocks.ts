// Finds the shell blocks in Markdown that are marked as tested: a fenced block whose info string is
// `sh tested` (or `sh {tested}`; `bash` and `shell` work too). test/integration/docs-commands.test.ts
// runs every one of them from the repository root and requires exit 0, so a command shown in the
// docs cannot rot. Blocks without the mark (commands that need a real host) are only shown.
import fs from 'node:fs';
import path from 'node:path';

export interface TestedBlock {
  /** Path of the Markdown file, relative to the root given to findTestedBlocks. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
}

const OPEN = /^( {0,3})(`{3,}|~{3,})\s*([^\s`{]*)\s*(.*)$/;
const SHELLS = new Set(['sh', 'bash', 'shell']);

/** Does an info string's rest (after the language) carry the tested mark? */
export function isTestedMark(rest: string): boolean {
  return /^(tested|\{\s*tested\s*\})$/.test(rest.trim());
}

export function extractTestedBlocks(markdown: string, file: string): TestedBlock[] {
  const lines = markdown.split('\n');
  const blocks: TestedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = OPEN.exec(lines[i] as string);
    if (!open) continue;
    const [, indent, fence, lang, rest] = open as unknown as [string, string, string, string, string];
    // A closing fence uses the same character, at least as many, and nothing after it.
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end] as string)) end++;
    if (end >= lines.length) throw new Error(`${file}:${i + 1}: code fence is never closed`);
    if (SHELLS.has(lang) && isTestedMark(rest)) {
      const body = lines.slice(i + 1, end).map((l) => (indent && l.startsWith(indent) ? l.slice(indent.length) : l));
      blocks.push({ file, line: i + 1, code: `${body.join('\n')}\n` });
    }
    i = end;
  }
  return blocks;
}

/** README.md and every Markdown file under docs/, in a stable order. */
export function docFiles(root: string): string[] {
  const files = ['README.md'];
  const walk = (rel: string) => {
    const dir = path.join(root, rel);
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const sub = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) walk(sub);
      else if (entry.name.endsWith('.md')) files.push(sub);
    }
  };
  walk('docs');
  return files.filter((f) => fs.existsSync(path.join(root, f)));
}

export function findTestedBlocks(root: string): TestedBlock[] {
  return docFiles(root).flatMap((f) => extractTestedBlocks(fs.readFileSync(path.join(root, f), 'utf8'), f));
}
