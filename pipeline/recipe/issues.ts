// Turns schema issues into dot-path messages such as `user.uid: must be at least 1000`.
// Unknown keys get a did-you-mean from the keys the schema knows at that path.
import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';

export function dotPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(recipe)';
}

/** Suggest the nearest candidate when it is plausibly a typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates];
  if (list.length === 0) return undefined;
  const best = closest(word, list);
  return distance(word, best) <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], knownKeys: (path: readonly PropertyKey[]) => string[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const hint = didYouMean(key, knownKeys(issue.path));
        out.push(`${dotPath([...issue.path, key])}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}`);
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type') message = `expected ${issue.expected}${'input' in issue ? `, got ${describe(issue.input)}` : ''}`;
    if (issue.code === 'invalid_value' && 'values' in issue) message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    if (issue.code === 'too_small' && issue.origin === 'number') message = `must be at least ${String(issue.minimum)}`;
    if (issue.code === 'too_big' && issue.origin === 'number') message = `must be at most ${String(issue.maximum)}`;
    out.push(`${dotPath(issue.path)}: ${message}`);
  }
  return out;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v)}` : typeof v;
}
