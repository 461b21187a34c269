// The sizes and durations publish takes on the command line: sizes as the recipe writes them
// ("512M", "1G": binary units, as systemd reads them), durations as a number and a unit
// ("21d", "12h", "30m", "90s"), since Valid-Until is counted in seconds.
import { UsageError } from '../errors.ts';

const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Bytes of "1G", "512M", "100000". `what` names the option in the message. */
export function parseSize(text: string, what: string): number {
  const m = /^([0-9]+)([KMGT]?)$/.exec(text.trim());
  if (!m) throw new UsageError(`${what}: "${text}" is not a size; write it as 512M, 1G or a number of bytes`);
  return Number(m[1]) * SIZE_UNITS[m[2]!]!;
}

/** Seconds of "21d", "12h", "30m", "90s". */
export function parseDuration(text: string, what: string): number {
  const m = /^([0-9]+)([smhd])$/.exec(text.trim());
  if (!m || Number(m[1]) === 0) throw new UsageError(`${what}: "${text}" is not a duration; write it as 21d, 12h, 30m or 90s (more than zero)`);
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}
