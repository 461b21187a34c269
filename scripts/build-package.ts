// Builds what `npm pack` ships (run by the `prepack` script): dist/ with the compiled pipeline and
// built-in overlays (JavaScript and type declarations), and beside them, in the checkout's layout,
// what they read at run time: the host files, the overlays' other files, init's templates with the
// CI pipeline and scripts, and the man page generated from the command definitions. The checkout
// itself runs from source and needs none of this.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { program } from '../pipeline/commands/program.ts';
import { manPage } from '../pipeline/docs/command-docs.ts';
import { BUILDER_VERSION } from '../pipeline/package-root.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'dist');

fs.rmSync(DIST, { recursive: true, force: true });
execFileSync(path.join(ROOT, 'node_modules/.bin/tsc'), ['-p', path.join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });

// Copied as they are: cpSync keeps modes, so scripts stay executable.
fs.cpSync(path.join(ROOT, 'host'), path.join(DIST, 'host'), { recursive: true });
fs.cpSync(path.join(ROOT, 'overlays'), path.join(DIST, 'overlays'), { recursive: true, filter: (from) => !from.endsWith('.ts') });
// What `init` gives a new repository: the templates, this repository's pipeline and its CI scripts.
fs.cpSync(path.join(ROOT, 'templates'), path.join(DIST, 'templates'), { recursive: true });
fs.cpSync(path.join(ROOT, '.gitlab-ci.yml'), path.join(DIST, '.gitlab-ci.yml'));
fs.cpSync(path.join(ROOT, 'scripts/ci'), path.join(DIST, 'scripts/ci'), { recursive: true });
const epoch = process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000) : new Date();
fs.mkdirSync(path.join(DIST, 'man'), { recursive: true });
fs.writeFileSync(path.join(DIST, 'man/ephemeral-builder.1'), manPage(program(), BUILDER_VERSION, epoch.toISOString().slice(0, 10)));
process.stdout.write(`built ${path.relative(process.cwd(), DIST)}/ for ephemeral-builder ${BUILDER_VERSION}\n`);
