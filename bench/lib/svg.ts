// SVG charts, written as plain text (no dependencies): a horizontal stacked bar per build (stage
// times) and an empirical CDF of latencies (connections). Both are self-contained files with a
// title, axis ticks and a legend, readable on GitHub and in a browser.

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round axis maximum and tick step: 1, 2 or 5 times a power of ten. */
function niceScale(max: number, ticks = 6): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  return { max: Math.ceil(max / step) * step, step };
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return v.toFixed(2).replace(/0$/, '').replace(/\.0?$/, '');
}

/** The opening of every chart: the svg element, a white background and the title. */
function chartStart(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="600">${esc(title)}</text>`,
  ];
}

/** Vertical grid lines from y1 to y2 at every step of the value axis, each labelled below y2. */
function xGrid(out: string[], max: number, step: number, x: (v: number) => number, y1: number, y2: number, stroke: string): void {
  for (let v = 0; v <= max + step / 2; v += step) {
    out.push(`<line x1="${x(v).toFixed(1)}" y1="${y1}" x2="${x(v).toFixed(1)}" y2="${y2}" stroke="${stroke}"/>`);
    out.push(`<text x="${x(v).toFixed(1)}" y="${y2 + 16}" text-anchor="middle" fill="#555">${fmt(v)}</text>`);
  }
}

export interface StackedBar {
  label: string;
  segments: { name: string; value: number }[];
}

/** One horizontal bar per entry, its segments stacked left to right in a color per segment name. */
export function stackedBarChart(title: string, unit: string, bars: StackedBar[]): string {
  const names: string[] = [];
  for (const b of bars) for (const s of b.segments) if (!names.includes(s.name)) names.push(s.name);
  const color = (n: string) => PALETTE[names.indexOf(n) % PALETTE.length] as string;
  const labelW = 300;
  const plotW = 560;
  const barH = 22;
  const gap = 8;
  const top = 46;
  const plotH = bars.length * (barH + gap);
  const legendY = top + plotH + 40;
  const legendRows = Math.ceil(names.length / 3);
  const height = legendY + legendRows * 20 + 10;
  const width = labelW + plotW + 90;
  const totals = bars.map((b) => b.segments.reduce((a, s) => a + s.value, 0));
  const { max, step } = niceScale(Math.max(...totals, 0));
  const x = (v: number) => labelW + (v / max) * plotW;
  const out = chartStart(width, height, title);
  xGrid(out, max, step, x, top - 4, top + plotH, '#e0e0e0');
  out.push(`<text x="${labelW + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle" fill="#333">${esc(unit)}</text>`);
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    out.push(`<text x="${labelW - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(b.label)}</text>`);
    let acc = 0;
    for (const s of b.segments) {
      if (s.value <= 0) continue;
      const x0 = x(acc);
      const w = x(acc + s.value) - x0;
      out.push(
        `<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(w, 0.5).toFixed(1)}" height="${barH}" fill="${color(s.name)}"><title>${esc(`${b.label}: ${s.name} ${fmt(s.value)} ${unit}`)}</title></rect>`,
      );
      if (w > 34)
        out.push(`<text x="${(x0 + w / 2).toFixed(1)}" y="${y + barH / 2 + 4}" text-anchor="middle" fill="#fff" font-size="11">${fmt(s.value)}</text>`);
      acc += s.value;
    }
    out.push(`<text x="${(x(acc) + 6).toFixed(1)}" y="${y + barH / 2 + 4}" fill="#333">${fmt(acc)}</text>`);
  });
  names.forEach((n, i) => {
    const lx = 12 + (i % 3) * 300;
    const ly = legendY + Math.floor(i / 3) * 20;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color(n)}"/><text x="${lx + 18}" y="${ly}">${esc(n)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface LatencyGroup {
  label: string;
  samples: number[];
}

/**
 * Empirical CDF per group (x: latency, y: share of connections at or below it), with each
 * group's p50 and p95 in the legend. Steps make every single sample visible.
 */
export function latencyCdfChart(title: string, unit: string, groups: LatencyGroup[], stats: (xs: number[]) => { p50: number; p95: number }): string {
  const left = 60;
  const top = 46;
  const plotW = 620;
  const plotH = 300;
  const legendY = top + plotH + 46;
  const height = legendY + groups.length * 20 + 10;
  const width = left + plotW + 40;
  const all = groups.flatMap((g) => g.samples);
  const { max, step } = niceScale(Math.max(...all, 0));
  const x = (v: number) => left + (v / max) * plotW;
  const y = (p: number) => top + plotH - p * plotH;
  const out = chartStart(width, height, title);
  xGrid(out, max, step, x, top, top + plotH, '#eee');
  for (const p of [0, 0.25, 0.5, 0.75, 0.95, 1]) {
    out.push(
      `<line x1="${left}" y1="${y(p).toFixed(1)}" x2="${left + plotW}" y2="${y(p).toFixed(1)}" stroke="${p === 0.5 || p === 0.95 ? '#ccc' : '#eee'}"${p === 0.95 ? ' stroke-dasharray="4 3"' : ''}/>`,
    );
    if (p !== 1) out.push(`<text x="${left - 6}" y="${(y(p) + 4).toFixed(1)}" text-anchor="end" fill="#555">${Math.round(p * 100)}%</text>`);
  }
  out.push(`<text x="${left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle" fill="#333">${esc(unit)} (connect to first output)</text>`);
  groups.forEach((g, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    const s = [...g.samples].sort((a, b) => a - b);
    if (s.length) {
      const pts: string[] = [`${x(s[0] as number).toFixed(1)},${y(0).toFixed(1)}`];
      s.forEach((v, k) => {
        pts.push(`${x(v).toFixed(1)},${y(k / s.length).toFixed(1)}`);
        pts.push(`${x(v).toFixed(1)},${y((k + 1) / s.length).toFixed(1)}`);
      });
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    }
    const st = stats(g.samples);
    const ly = legendY + i * 20;
    out.push(`<rect x="${left}" y="${ly - 10}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${left + 18}" y="${ly}">${esc(`${g.label}: n=${g.samples.length}, p50 ${fmt(st.p50)} ${unit}, p95 ${fmt(st.p95)} ${unit}`)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
