// The builder's own version, read from its package.json (one place to bump it): printed by
// --version and recorded as the tool in every SBOM.
import fs from 'node:fs';
import path from 'node:path';

export const BUILDER_VERSION: string = (JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as { version: string }).version;
