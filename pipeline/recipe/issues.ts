// Turns schema issues into dot-path messages such as `user.uid: must be at least 1000`.
// Unknown keys get a did-you-mean from the keys the schema knows at that path.
import { distance } from 'fastest-levenshtein';
import type { z } from 'zod';

export function dotPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(recipe)';
}

/**
 * Suggest the nearest candidate when it is plausibly a typo. Levenshtein counts a swap of two
 * letters as 2, so among close candidates one with the same letters ("gti" → "git") wins.
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3));
  const sorted = [...word].sort().join('');
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > limit) continue;
    const d = distance(word, c);
    if (d > limit) continue;
    const score = [...c].sort().join('') === sorted ? d - 1.5 : d;
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], knownKeys: (path: readonly PropertyKey[]) => string[], input: unknown): string[] {
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
    // zod's own wording is replaced; a message the schema wrote itself is kept.
    if (issue.code === 'invalid_type' && /^Invalid input/.test(issue.message)) {
      const got = valueAt(input, issue.path);
      message =
        issue.expected === 'int' && typeof got === 'number' ? `must be a whole number, got ${got}` : `expected ${issue.expected}, got ${describeValue(got)}`;
    }
    if (issue.code === 'invalid_value' && 'values' in issue) message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    if (issue.code === 'too_small' && issue.origin === 'number') message = `must be at least ${String(issue.minimum)}`;
    if (issue.code === 'too_big' && issue.origin === 'number') message = `must be at most ${String(issue.maximum)}`;
    out.push(`${dotPath(issue.path)}: ${message}`);
  }
  return out;
}

function valueAt(input: unknown, at: readonly PropertyKey[]): unknown {
  let v = input;
  for (const part of at) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[part] : undefined;
  return v;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v)}` : typeof v;
}
