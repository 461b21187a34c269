// Worker process for the deb benchmark: our .deb writer (pipeline/pack/deb-writer.ts buildDeb) on
// a dpkg-deb staging directory's data (everything but DEBIAN/), with the control fields read from
// its DEBIAN/control, so both writers get exactly the same input. Prints the result as JSON.
// Usage: node deb.ts STAGING OUT xz|zstd LEVEL SOURCE_DATE_EPOCH
import fs from 'node:fs';
import path from 'node:path';
import { buildDeb } from '../../../pipeline/pack/deb-writer.ts';
import type { CompressorName } from '../../../pipeline/pack/compress.ts';
import { mergeEntries, scanTree } from '../../../pipeline/pack/tar-entries.ts';
import { controlFromStaging } from '../debian.ts';

const [staging, out, tool, level, sde] = process.argv.slice(2);
if (!staging || !out || !tool || !level || !sde) throw new Error('usage: deb.ts STAGING OUT xz|zstd LEVEL SOURCE_DATE_EPOCH');
const epoch = Number(sde);
const lists = [];
for (const top of fs.readdirSync(staging).sort()) {
  if (top === 'DEBIAN') continue;
  lists.push(await scanTree(path.join(staging, top), top, epoch));
}
const result = await buildDeb({
  outFile: out,
  control: controlFromStaging(staging),
  data: mergeEntries(lists, epoch),
  compression: { tool: tool as CompressorName, level: Number(level) },
  sourceDateEpoch: epoch,
});
process.stdout.write(`${JSON.stringify({ bytes: result.bytes, installedSizeKiB: result.installedSizeKiB })}\n`);
