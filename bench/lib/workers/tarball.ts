// Worker process for the pack benchmark: our tarball writer (pipeline/pack/tarball.ts packTarball)
// on a directory, in a process of its own so that GNU time measures it alone, as it does the
// anchor's tar | zstd. Prints the result as JSON, with `ms`: packTarball's own time, without the
// process start-up (loading the TypeScript modules) that a build pays once, not per stage.
// Usage: node tarball.ts TREE OUT LEVEL SOURCE_DATE_EPOCH [long]
import { packTarball } from '../../../pipeline/pack/tarball.ts';

const [tree, out, level, sde, long] = process.argv.slice(2);
if (!tree || !out || !level || !sde) throw new Error('usage: tarball.ts TREE OUT LEVEL SOURCE_DATE_EPOCH [long]');
const start = performance.now();
const result = await packTarball(tree, out, { level: Number(level), sourceDateEpoch: Number(sde), long: long === 'long' });
process.stdout.write(`${JSON.stringify({ ...result, ms: performance.now() - start })}\n`);
