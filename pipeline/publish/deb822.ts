// Reading and writing deb822 paragraphs (control files, Packages, Release) without losing anything:
// field order and continuation lines are kept verbatim, so a Packages entry read back from the
// index renders to the same bytes it was written as.

/** One paragraph: fields in their order; a value keeps its continuation lines ("x\n more"). */
export type Paragraph = Array<[name: string, value: string]>;

export function parseParagraphs(text: string): Paragraph[] {
  const paragraphs: Paragraph[] = [];
  let current: Paragraph = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current.length) paragraphs.push(current);
      current = [];
    } else if (line.startsWith('#')) {
      // A comment (apt's .sources files have them); not part of any field.
    } else if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = current.at(-1);
      if (!last) throw new Error(`deb822: continuation line without a field: ${JSON.stringify(line)}`);
      last[1] += `\n${line}`;
    } else {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`deb822: not a field: ${JSON.stringify(line)}`);
      current.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
  }
  if (current.length) paragraphs.push(current);
  return paragraphs;
}

export function field(p: Paragraph, name: string): string | undefined {
  const lower = name.toLowerCase();
  return p.find(([n]) => n.toLowerCase() === lower)?.[1];
}

export function renderParagraph(p: Paragraph): string {
  return `${p.map(([n, v]) => (v === '' ? `${n}:` : v.startsWith('\n') ? `${n}:${v}` : `${n}: ${v}`)).join('\n')}\n`;
}

/** Paragraphs separated by one blank line, as dpkg and apt write them. */
export function renderParagraphs(ps: Paragraph[]): string {
  return ps.map(renderParagraph).join('\n');
}
