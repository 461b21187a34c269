// Which fenced blocks count as tested commands: only shell blocks marked `tested` or `{tested}`,
// whole, with their line numbers; unmarked blocks, other languages and blocks nested in a longer
// fence are left alone, and an unclosed fence is an error rather than a silently skipped test.
import { describe, expect, it } from 'vitest';
import { extractTestedBlocks, isTestedMark } from '../../pipeline/docs/tested-blocks.ts';

describe('tested shell blocks in Markdown', () => {
  it('takes sh/bash/shell blocks marked tested or {tested}, and nothing else', () => {
    const md = [
      '# Title', // 1
      '```sh tested', // 2
      'npx ephemeral-builder --help', // 3
      '```', // 4
      '```sh', // 5
      'sudo apt-get install ephemeral-builder', // 6
      '```', // 7
      '```bash {tested}', // 8
      'echo one', // 9
      'echo two', // 10
      '```', // 11
      '```ts tested', // 12
      'const x = 1;', // 13
      '```', // 14
      '```shell   tested  ', // 15
      'true', // 16
      '```', // 17
      '```sh tested-later', // 18
      'false', // 19
      '```', // 20
    ].join('\n');
    expect(extractTestedBlocks(md, 'x.md')).toEqual([
      { file: 'x.md', line: 2, code: 'npx ephemeral-builder --help\n' },
      { file: 'x.md', line: 8, code: 'echo one\necho two\n' },
      { file: 'x.md', line: 15, code: 'true\n' },
    ]);
  });

  it('does not look inside a longer fence that shows Markdown', () => {
    const md = ['````md', '```sh tested', 'false', '```', '````', '~~~sh tested', 'true', '~~~'].join('\n');
    expect(extractTestedBlocks(md, 'y.md')).toEqual([{ file: 'y.md', line: 6, code: 'true\n' }]);
  });

  it('strips the fence indentation of blocks inside list items', () => {
    const md = ['1. Run:', '   ```sh tested', '   npx ephemeral-builder --help', '   ```'].join('\n');
    expect(extractTestedBlocks(md, 'z.md')).toEqual([{ file: 'z.md', line: 2, code: 'npx ephemeral-builder --help\n' }]);
  });

  it('refuses an unclosed fence', () => {
    expect(() => extractTestedBlocks('text\n```sh tested\ntrue\n', 'bad.md')).toThrow('bad.md:2: code fence is never closed');
  });

  it('recognises the mark exactly', () => {
    expect(isTestedMark('tested')).toBe(true);
    expect(isTestedMark('{ tested }')).toBe(true);
    expect(isTestedMark('untested')).toBe(false);
    expect(isTestedMark('')).toBe(false);
  });
});
