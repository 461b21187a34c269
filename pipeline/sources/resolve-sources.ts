// Every apt source an image is built from, looked up before anything is built: the recipe's suite,
// `<codename>-updates` and `<codename>-security` (unless turned off), and each extra repository's
// suites. Each InRelease is fetched once; its digest goes into the bootstrap's cache key and the
// manifest, so that a security update rebuilds the image instead of reusing a stale one. An extra
// repository's InRelease must verify with its own key alone, or the build stops here, before
// anything is downloaded or written.
// Reads: mirror, suite, components, architecture, sources, repositories.
import { RecipeError, StageError } from '../errors.ts';
import { fetchInRelease, type MirrorState } from '../mirror.ts';
import { fromRecipe } from '../recipe/rules.ts';
import type { Recipe } from '../recipe/schema.ts';
import type { RetryOptions } from '../util/fetch-retry.ts';
import { KeyProblem, readRepositoryKey, verifyInRelease, type RepositoryKey } from './repository-key.ts';

export interface ResolvedSource {
  /** `debian`, `debian-updates`, `debian-security`, or the extra repository's name. */
  name: string;
  /** The recipe field it comes from, for messages: `suite`, `sources.security`, `repositories[0]`. */
  field: string;
  uri: string;
  /** The directory under dists/. */
  dist: string;
  components: string[];
  state: MirrorState;
  /** Extra repositories only; Debian's suites are verified by apt with the build machine's Debian keyring. */
  key?: RepositoryKey;
}

interface Wanted {
  name: string;
  field: string;
  uri: string;
  dist: string;
  components: string[];
  /** What to do about a missing suite. */
  missingHint: string;
  repository?: Recipe['repositories'][number];
}

export async function resolveSources(recipe: Recipe, main: MirrorState, recipeDir: string, opts: RetryOptions = {}): Promise<ResolvedSource[]> {
  const codename = main.codename || recipe.suite;
  const wanted: Wanted[] = [];
  if (recipe.sources.updates) {
    wanted.push({
      name: 'debian-updates',
      field: 'sources.updates',
      uri: recipe.mirror,
      dist: `${codename}-updates`,
      components: recipe.components,
      missingHint: `set sources.updates: false for a suite without updates (unstable and testing have none)`,
    });
  }
  if (recipe.sources.security) {
    wanted.push({
      name: 'debian-security',
      field: 'sources.security',
      uri: recipe.sources.securityMirror,
      dist: `${codename}-security`,
      components: recipe.components,
      missingHint: `check sources.securityMirror, or set sources.security: false for a suite without security support (unstable has none)`,
    });
  }
  recipe.repositories.forEach((repository, i) => {
    for (const dist of repository.suites) {
      wanted.push({
        name: repository.name,
        field: `repositories[${i}]`,
        uri: repository.uri,
        dist,
        components: repository.components,
        missingHint: "check the repository's uri and suites",
        repository,
      });
    }
  });

  const keys = new Map<string, RepositoryKey>();
  const problems: string[] = [];
  for (const [i, repository] of recipe.repositories.entries()) {
    try {
      keys.set(repository.name, await readRepositoryKey(fromRecipe(recipeDir, repository.key), repository.fingerprint));
    } catch (err) {
      if (!(err instanceof KeyProblem)) throw err;
      problems.push(`repositories[${i}].${repository.fingerprint ? 'fingerprint' : 'key'}: ${err.message}`);
    }
  }
  if (problems.length) throw new RecipeError(problems);

  const found = await Promise.all(
    wanted.map(async (w) => {
      try {
        return { w, lookup: await fetchInRelease(w.uri, w.dist, opts) };
      } catch (err) {
        // The fetch's own hint is about the recipe's mirror; name the source that failed instead.
        if (!(err instanceof StageError)) throw err;
        throw new StageError(
          err.stage,
          `${w.repository ? `${w.field} (${w.name})` : w.field}: ${err.message}`,
          `check that this machine can reach ${w.uri} (${w.repository ? `${w.field}.uri` : w.field === 'sources.security' ? 'sources.securityMirror' : 'mirror'})`,
          undefined,
          undefined,
          { cause: err },
        );
      }
    }),
  );
  const sources: ResolvedSource[] = [{ name: 'debian', field: 'suite', uri: recipe.mirror, dist: recipe.suite, components: recipe.components, state: main }];
  for (const { w, lookup } of found) {
    const label = w.repository ? `${w.field} (${w.name})` : w.field;
    const inRelease = `${w.uri.replace(/\/$/, '')}/dists/${w.dist}/InRelease`;
    if (!lookup.found) {
      problems.push(`${label}: no suite "${w.dist}" at ${w.uri} (HTTP ${lookup.status} for ${inRelease}); ${w.missingHint}`);
      continue;
    }
    const key = keys.get(w.name);
    if (w.repository && key) {
      const verified = await verifyInRelease(key, lookup.inRelease);
      if (!verified.ok) {
        problems.push(
          `${label}: ${inRelease} is not signed by the key in ${w.repository.key} (${verified.why}); check the key file, or the repository was tampered with`,
        );
        continue;
      }
    }
    const { state } = lookup;
    if (state.validUntil !== undefined && state.validUntil * 1000 < Date.now()) {
      problems.push(
        `${label}: ${inRelease} expired on ${new Date(state.validUntil * 1000).toISOString()} (its Valid-Until), and apt refuses an expired suite; ${w.repository ? 'its owner must sign it again' : 'use an up-to-date mirror'}`,
      );
      continue;
    }
    const missing = w.components.filter((c) => state.components.length && !state.components.includes(c));
    if (missing.length) problems.push(`${label}: ${w.dist} at ${w.uri} has no component ${missing.join(', ')} (it has ${state.components.join(', ')})`);
    if (state.architectures.length && !state.architectures.includes(recipe.architecture)) {
      problems.push(`${label}: ${w.dist} at ${w.uri} has no packages for ${recipe.architecture} (it has ${state.architectures.join(', ')})`);
    }
    sources.push({ name: w.name, field: w.field, uri: w.uri, dist: w.dist, components: w.components, state, ...(key ? { key } : {}) });
  }
  if (problems.length) throw new RecipeError(problems);
  return sources;
}

/** What the cache keys and the manifest record of a source: where it is, and which InRelease. */
export function sourceRecord(s: ResolvedSource): Record<string, unknown> {
  return {
    name: s.name,
    uri: s.uri,
    suite: s.dist,
    components: s.components,
    inReleaseSha256: s.state.inReleaseSha256,
    ...(s.key ? { keySha256: s.key.sha256, fingerprints: s.key.fingerprints } : {}),
  };
}
