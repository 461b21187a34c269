#!/usr/bin/env -S node --max-semi-space-size=4
// The `ephemeral-builder` command. In a checkout it runs the TypeScript source (Node 24 strips the
// types); in the installed npm package, which ships no source (Node refuses to strip types under
// node_modules), the compiled dist/. The V8 flag is pipeline/cli.ts's (see there).
import fs from 'node:fs';

const source = new URL('../pipeline/cli.ts', import.meta.url);
await import(fs.existsSync(source) ? source.href : new URL('../dist/pipeline/cli.js', import.meta.url).href);
