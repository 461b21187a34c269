// The recipe reference (docs/recipe-reference.md), generated from the zod schema in
// pipeline/recipe/schema.ts: every field with its dot path, type, default, rules and `.describe()`
// text. Generated rather than written so that it cannot drift from what the validator accepts; a
// unit test compares the committed file with this output. Reads: every recipe key (the schema).
//
//   npx node pipeline/docs/recipe-reference.ts           print it
//   npx node pipeline/docs/recipe-reference.ts --write   write docs/recipe-reference.md
//   npx node pipeline/docs/recipe-reference.ts --check   exit 1 when the file is out of date
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { recipeSchema } from '../recipe/schema.ts';

export const REFERENCE_FILE = path.resolve(import.meta.dirname, '../../docs/recipe-reference.md');

/**
 * The parts of zod v4's internal definition this walker reads. zod documents `_zod.def` as the
 * introspection surface; typing only what is used keeps a zod upgrade that changes it loud here.
 */
interface SchemaNode {
  readonly description?: string;
  readonly _zod: { readonly def: Def };
}
interface Def {
  readonly type: string;
  readonly innerType?: SchemaNode;
  readonly defaultValue?: unknown;
  readonly shape?: Record<string, SchemaNode>;
  readonly element?: SchemaNode;
  readonly entries?: Record<string, string | number>;
  readonly checks?: ReadonlyArray<{ readonly _zod: { readonly def: CheckDef } }>;
  readonly format?: string;
  readonly error?: (issue: object) => unknown;
}
interface CheckDef {
  readonly check: string;
  readonly format?: string;
  readonly value?: number | bigint;
  readonly inclusive?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly error?: (issue: object) => unknown;
}

export interface ReferenceRow {
  /** Dot path as used in validation messages: `limits.homeSize`, `binds[].source`. */
  path: string;
  type: string;
  /** Markdown for the default: a literal in backticks, or words. */
  default: string;
  description: string;
  /** The schema's own messages for its rules ("must be a size such as 512M or 2G"). */
  rules: string[];
  /** For objects and arrays of objects: the heading of the table listing their fields. */
  section?: string;
}

export interface ReferenceSection {
  /** `top level`, or the dot path of the object (`limits`, `binds[]`). */
  title: string;
  rows: ReferenceRow[];
}

const WRAPPERS = new Set(['default', 'prefault', 'optional']);

/** Every object of the schema as its own table, in the order the schema declares them. */
export function describeSchema(schema: unknown = recipeSchema): ReferenceSection[] {
  const sections: ReferenceSection[] = [];
  walkObject(schema as SchemaNode, '', 'top level', sections);
  return sections;
}

function walkObject(node: SchemaNode, prefix: string, title: string, sections: ReferenceSection[]): void {
  const shape = node._zod.def.shape;
  if (!shape) throw new Error(`${title}: not an object schema`);
  const section: ReferenceSection = { title, rows: [] };
  sections.push(section);
  const nested: Array<() => void> = [];
  for (const [key, field] of Object.entries(shape)) {
    const at = `${prefix}${key}`;
    const { inner, description, defaultText } = unwrapField(field, at);
    const row: ReferenceRow = { path: at, type: typeOf(inner), default: defaultText, description, rules: rulesOf(inner) };
    const def = inner._zod.def;
    if (def.type === 'object') {
      row.section = at;
      nested.push(() => walkObject(inner, `${at}.`, at, sections));
    } else if (def.type === 'array' && def.element && unwrap(def.element)._zod.def.type === 'object') {
      row.section = `${at}[]`;
      nested.push(() => walkObject(unwrap(def.element as SchemaNode), `${at}[].`, `${at}[]`, sections));
    }
    section.rows.push(row);
  }
  for (const walk of nested) walk();
}

function unwrap(node: SchemaNode): SchemaNode {
  let n = node;
  while (WRAPPERS.has(n._zod.def.type) && n._zod.def.innerType) n = n._zod.def.innerType;
  return n;
}

/** The field's description (on whichever wrapper carries it), its default, and the bare type. */
function unwrapField(field: SchemaNode, at: string): { inner: SchemaNode; description: string; defaultText: string } {
  let description = field.description;
  let defaultText: string | undefined;
  let n = field;
  while (WRAPPERS.has(n._zod.def.type) && n._zod.def.innerType) {
    const def = n._zod.def;
    if (defaultText === undefined) {
      if (def.type === 'default') defaultText = `\`${JSON.stringify(def.defaultValue)}\``;
      // prefault({}) parses {} through the object, so every field below takes its own default.
      else if (def.type === 'prefault') defaultText = "each field's default";
      else if (def.type === 'optional') defaultText = 'not set';
    }
    n = def.innerType as SchemaNode;
    description ??= n.description;
  }
  if (!description) throw new Error(`${at}: the schema field has no .describe() text; the recipe reference needs one for every field`);
  return { inner: n, description, defaultText: defaultText ?? 'required' };
}

function typeOf(node: SchemaNode): string {
  const def = node._zod.def;
  switch (def.type) {
    case 'string':
      return def.format === 'url' ? 'string (URL)' : 'string';
    case 'number': {
      const checks = (def.checks ?? []).map((c) => c._zod.def);
      const integer = checks.some((c) => c.check === 'number_format' && c.format === 'safeint');
      const min = checks.find((c) => c.check === 'greater_than' && c.inclusive)?.value;
      const max = checks.find((c) => c.check === 'less_than' && c.inclusive)?.value;
      const base = integer ? 'integer' : 'number';
      if (min !== undefined && max !== undefined) return `${base} ${min}–${max}`;
      if (min !== undefined) return `${base} ≥ ${min}`;
      if (max !== undefined) return `${base} ≤ ${max}`;
      return base;
    }
    case 'boolean':
      return 'boolean';
    case 'enum':
      return `one of ${Object.values(def.entries ?? {})
        .map((v) => `\`${JSON.stringify(v)}\``)
        .join(', ')}`;
    case 'array': {
      const element = unwrap(def.element as SchemaNode);
      const inner = typeOf(element);
      return element._zod.def.type === 'enum' ? `array, each ${inner}` : `${inner}[]`;
    }
    case 'object':
      return 'object';
    default:
      throw new Error(`recipe reference: no rendering for zod type "${def.type}"; add one to pipeline/docs/recipe-reference.ts`);
  }
}

/** The rules a value must satisfy, in the schema's own words where it has them. */
function rulesOf(node: SchemaNode): string[] {
  const def = node._zod.def;
  const rules: string[] = [];
  const own = def.error?.({});
  if (typeof own === 'string') rules.push(own);
  for (const {
    _zod: { def: c },
  } of def.checks ?? []) {
    const message = c.error?.({});
    if (typeof message === 'string') rules.push(message);
    else if (c.check === 'min_length' && c.minimum !== undefined) rules.push(`must have at least ${counted(c.minimum, def.type)}`);
    else if (c.check === 'max_length' && c.maximum !== undefined) rules.push(`must have at most ${counted(c.maximum, def.type)}`);
  }
  if (def.type === 'array' && def.element) rules.push(...rulesOf(unwrap(def.element)).map((r) => `each entry ${r}`));
  return rules;
}

function counted(n: number, type: string): string {
  const [one, many] = type === 'array' ? ['entry', 'entries'] : ['character', 'characters'];
  return `${n} ${n === 1 ? one : many}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function sentence(rule: string): string {
  return `${rule.charAt(0).toUpperCase()}${rule.slice(1)}.`;
}

/** GitHub's anchor for a heading made of one code span. */
function anchor(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

export function renderRecipeReference(schema: unknown = recipeSchema): string {
  const out: string[] = [
    '# Recipe reference',
    '',
    '<!-- Generated from pipeline/recipe/schema.ts by `npx node pipeline/docs/recipe-reference.ts --write`.',
    "     Do not edit: change the schema's .describe() texts and regenerate. A unit test fails when this",
    '     file and the schema disagree. -->',
    '',
    'A recipe is a TypeScript module whose default export is `defineRecipe({...})` (see',
    '[the README](../README.md#recipes)). Every field is optional unless marked *required*; the',
    'defaults below are what an empty recipe gets. Validation messages name fields by the paths used',
    'here, e.g. `limits.homeSize: must be a size such as 512M or 2G`.',
    '',
  ];
  for (const section of describeSchema(schema)) {
    const isTop = section.title === 'top level';
    out.push(isTop ? '## Top level' : `## \`${section.title}\``, '');
    if (section.title.endsWith('[]')) out.push(`Each entry of \`${section.title.slice(0, -2)}\` is an object with these fields.`, '');
    out.push('| Field | Type | Default | Description |', '| --- | --- | --- | --- |');
    for (const row of section.rows) {
      const parts = [row.description, ...row.rules.map(sentence)];
      if (row.section) parts.push(`Fields: [\`${row.section}\`](#${anchor(row.section)}).`);
      out.push(`| \`${row.path}\` | ${cell(row.type)} | ${cell(row.default)} | ${cell(parts.join(' '))} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

function main(argv: string[]): number {
  const text = renderRecipeReference();
  const rel = path.relative(process.cwd(), REFERENCE_FILE);
  if (argv.includes('--write')) {
    fs.mkdirSync(path.dirname(REFERENCE_FILE), { recursive: true });
    fs.writeFileSync(REFERENCE_FILE, text);
    process.stdout.write(`wrote ${rel}\n`);
    return 0;
  }
  if (argv.includes('--check')) {
    const current = fs.existsSync(REFERENCE_FILE) ? fs.readFileSync(REFERENCE_FILE, 'utf8') : '';
    if (current === text) {
      process.stdout.write(`${rel} is up to date\n`);
      return 0;
    }
    process.stderr.write(`${rel} is out of date with pipeline/recipe/schema.ts: run npx node pipeline/docs/recipe-reference.ts --write\n`);
    return 1;
  }
  if (argv.length > 0) {
    process.stderr.write('usage: recipe-reference.ts [--write | --check]\n');
    return 2;
  }
  process.stdout.write(text);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
