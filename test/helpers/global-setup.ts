// Runs once before all test files: makes sure the shared test cache directory exists.
import fs from 'node:fs';
import { TEST_CACHE } from './paths.ts';

export default function setup(): void {
  fs.mkdirSync(TEST_CACHE, { recursive: true });
}
