// Loading a recipe: import the TypeScript module, validate it against the schema (with defaults),
// then apply the offline rules. The result is a Recipe plus the overlays it names, located on disk.
// Everything here is fast and offline; resolve.ts then checks the recipe against the mirror.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { RecipeError } from '../errors.ts';
import { describeValue, formatIssues } from './issues.ts';
import { checkRules, type OverlayRef } from './rules.ts';
import { recipeSchema, type Architecture, type Recipe } from './schema.ts';

export interface LoadedRecipe {
  recipe: Recipe;
  file: string;
  overlays: OverlayRef[];
}

/** What the command line lays over the recipe as written: `build --version`, `build --architecture`. */
export interface RecipeOverrides {
  version?: string;
  architecture?: Architecture;
}

export async function loadRecipe(file: string, overrides: RecipeOverrides = {}): Promise<LoadedRecipe> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new RecipeError(`recipe: no such file ${file}`, 'pass the path of a recipe module, e.g. recipes/default.ts');
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
  } catch (err) {
    const message = (err as Error).message;
    throw new RecipeError(
      `recipe: ${file} could not be loaded: ${message}`,
      /outside a module|ERR_REQUIRE_ESM|Unexpected token 'export'/.test(message)
        ? 'recipes are ES modules: add "type": "module" to the nearest package.json (ephemeral-builder init does)'
        : undefined,
    );
  }
  if (mod.default === undefined) throw new RecipeError(`recipe: ${file} has no default export`, 'end the module with `export default defineRecipe({...})`');
  const recipe = mod.default;
  if (typeof recipe !== 'object' || recipe === null || Array.isArray(recipe)) {
    throw new RecipeError(`(recipe): expected an object, got ${describeValue(recipe)}`, 'export default defineRecipe({ ... })');
  }
  return validateRecipe(
    { ...recipe, ...(overrides.version ? { version: overrides.version } : {}), ...(overrides.architecture ? { architecture: overrides.architecture } : {}) },
    abs,
  );
}

/** Validate a recipe object as written (schema, then rules). Exposed for tests and tools. */
export function validateRecipe(input: unknown, file: string): LoadedRecipe {
  const parsed = recipeSchema.safeParse(input);
  if (!parsed.success) throw new RecipeError(formatIssues(parsed.error.issues, knownKeysAt, input));
  const { problems, overlays } = checkRules(parsed.data, path.dirname(file));
  if (problems.length) throw new RecipeError(problems);
  return { recipe: parsed.data, file, overlays };
}

/** The keys the schema accepts at a path, for did-you-mean on unknown keys. */
function knownKeysAt(at: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = recipeSchema;
  for (const part of at) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = schema.shape[part as string] as z.ZodType;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return [];
    if (!schema) return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/** The schema inside default/prefault/optional wrappers. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (['default', 'prefault', 'optional'].includes(s._zod.def.type)) s = (s._zod.def as unknown as { innerType: z.ZodType }).innerType;
  return s;
}
