// Summary statistics of benchmark samples: median, p95 and the spread (min, max, relative range,
// standard deviation). Pure functions; no sample is ever dropped, so an outlier shows in the spread.

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
  stdev: number;
  /** (max - min) / median, as a fraction: how far apart the runs were. */
  spread: number;
}

function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Linear interpolation between the closest ranks (the "R-7" / numpy default definition). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = sorted(xs);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

export function p95(xs: readonly number[]): number {
  return percentile(xs, 95);
}

export function summarize(xs: readonly number[]): Summary {
  const n = xs.length;
  if (n === 0) return { n, median: NaN, p95: NaN, min: NaN, max: NaN, mean: NaN, stdev: NaN, spread: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const med = median(xs);
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  return { n, median: med, p95: p95(xs), min, max, mean, stdev: Math.sqrt(variance), spread: med === 0 ? 0 : (max - min) / med };
}

/** Ratio of two medians, rounded for display; NaN when either side is missing. */
export function ratio(ours: number, anchor: number): number {
  if (!Number.isFinite(ours) || !Number.isFinite(anchor) || anchor === 0) return Number.NaN;
  return ours / anchor;
}
