// Benchmark results: the shapes every benchmark returns, and the two files of a day on a machine,
// bench/results/<YYYY-MM-DD>-<machine>.json (everything, raw samples included) and .md (the
// summary table and one section per benchmark). A run merges its benchmarks into the day's files,
// so running one benchmark never erases another's figures.
import fs from 'node:fs';
import path from 'node:path';
import type { MachineInfo } from './machine.ts';
import type { Summary } from './stats.ts';

export type Status = 'PASS' | 'MISS' | 'INFO' | 'BLOCKED' | 'FAILED';
export type Unit = 's' | 'ms' | 'MB' | 'MiB' | 'bytes' | 'count';

export interface Series {
  label: string;
  role: 'ours' | 'anchor' | 'info';
  unit: Unit;
  samples: number[];
  summary: Summary;
  /** Load average when each sample started. */
  loads?: number[];
  /** CPU seconds (user + system, children included) of each sample. */
  cpuS?: number[];
}

export interface Headline {
  metric: string;
  unit: Unit;
  ours: number;
  anchor?: number;
  /** ours / anchor, or ours / limit when there is no anchor. */
  ratio?: number;
  target: string;
  status: Status;
}

export interface BenchResult {
  name: string;
  title: string;
  /** What ours is compared with. */
  anchor: string;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  load: { start: number; end: number };
  /** Timed runs per side (after warm-up). */
  runs: number;
  headlines: Headline[];
  series: Series[];
  notes: string[];
  /** SVG file names next to the results. */
  charts: string[];
  details?: Record<string, unknown>;
}

export interface ResultsFile {
  date: string;
  machine: MachineInfo;
  /** Node, mmdebstrap, zstd... versions that shape the figures. */
  tools: Record<string, string>;
  benchmarks: Record<string, BenchResult>;
}

export function resultsStem(date: string, machine: MachineInfo): string {
  return path.join(path.dirname(import.meta.dirname), 'results', `${date}-${machine.id}`);
}

/** Merges `results` into the day's JSON (replacing same-name benchmarks) and rewrites the .md. */
export function mergeResults(stem: string, base: Omit<ResultsFile, 'benchmarks'>, results: BenchResult[]): ResultsFile {
  const jsonFile = `${stem}.json`;
  let file: ResultsFile = { ...base, benchmarks: {} };
  if (fs.existsSync(jsonFile)) {
    const old = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as ResultsFile;
    file = { ...old, machine: base.machine, tools: { ...old.tools, ...base.tools } };
  }
  for (const r of results) file.benchmarks[r.name] = r;
  fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
  const tmp = `${jsonFile}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
  fs.renameSync(tmp, jsonFile);
  fs.writeFileSync(`${stem}.md`, renderMarkdown(file, path.basename(stem)));
  return file;
}

export function fmtValue(v: number | undefined, unit: Unit): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  switch (unit) {
    case 's':
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} s`;
    case 'ms':
      return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`;
    case 'MB':
      return `${v.toFixed(1)} MB`;
    case 'MiB':
      return `${v.toFixed(0)} MiB`;
    case 'bytes':
      return `${v.toLocaleString('en-US')} B`;
    case 'count':
      return String(v);
  }
}

/** Text for a markdown table cell: a "|" (tar | zstd) would end the cell. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function fmtRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`;
}

const ORDER = ['build-cold', 'rebuild-overlay', 'build-full', 'pack', 'deb', 'size', 'memory', 'connect', 'parallel', 'ctl-use'];

function ordered(file: ResultsFile): BenchResult[] {
  const rank = (n: string) => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  return Object.values(file.benchmarks).sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

/** The summary table alone (also copied into bench/README.md and the project README). */
/** linkTo: where each benchmark's row links (its section in a results file). */
export function summaryTable(file: ResultsFile, linkTo: string | ((name: string) => string) = ''): string {
  const linkPrefix = (name: string) => (typeof linkTo === 'string' ? linkTo : linkTo(name));
  const rows = [
    '| benchmark | metric | ours | anchor | ratio | target | result | load 1-min (start → end) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const b of ordered(file)) {
    for (const h of b.headlines) {
      rows.push(
        `| [${b.name}](${linkPrefix(b.name)}#${b.name}) | ${cell(h.metric)} | ${fmtValue(h.ours, h.unit)} | ${fmtValue(h.anchor, h.unit)} | ${fmtRatio(h.ratio)} | ${cell(h.target)} | **${h.status}** | ${b.load.start.toFixed(2)} → ${b.load.end.toFixed(2)} |`,
      );
    }
  }
  return rows.join('\n');
}

export function renderMarkdown(file: ResultsFile, stem: string): string {
  const m = file.machine;
  const lines: string[] = [];
  lines.push(`# Benchmarks ${file.date} on ${m.hostname}`);
  lines.push('');
  lines.push(`Machine: ${m.hostname}, ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}.`);
  lines.push(
    `Tools: ${Object.entries(file.tools)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
  );
  lines.push('');
  lines.push(
    'The machine is shared with test runs: each benchmark records the 1-minute load average at its start and end, and each sample the load when it started (JSON). On 2 CPUs, a load above 2 means the figures include waiting for a CPU. Ours and the anchor always run alternately in the same run, so contention hits both sides alike.',
  );
  lines.push('');
  lines.push(`Raw samples: [${stem}.json](${stem}.json). Reproduce: \`npm run bench -- NAME\` (see [bench/README.md](../README.md)).`);
  lines.push('');
  lines.push('## Summary');
  lines.push('');
  lines.push(summaryTable(file));
  lines.push('');
  for (const b of ordered(file)) {
    lines.push(`## ${b.name}`);
    lines.push('');
    lines.push(`**${b.title}** — anchor: ${b.anchor}.`);
    lines.push('');
    lines.push(
      `Run ${b.startedAt} (${Math.round(b.durationS)} s), ${b.runs} timed run(s) per side, load ${b.load.start.toFixed(2)} → ${b.load.end.toFixed(2)}.`,
    );
    lines.push('');
    if (b.series.length) {
      lines.push('| series | n | median | p95 | min | max | spread (max−min)/median | CPU s (median) | load at samples |');
      lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const s of b.series) {
        const u = s.unit;
        const cpu = s.cpuS?.length ? [...s.cpuS].sort((a, b2) => a - b2)[Math.floor((s.cpuS.length - 1) / 2)] : undefined;
        const loads = s.loads?.length ? `${Math.min(...s.loads).toFixed(1)}–${Math.max(...s.loads).toFixed(1)}` : '–';
        lines.push(
          `| ${cell(s.label)}${s.role === 'ours' ? ' (ours)' : s.role === 'anchor' ? ' (anchor)' : ''} | ${s.summary.n} | ${fmtValue(s.summary.median, u)} | ${fmtValue(s.summary.p95, u)} | ${fmtValue(s.summary.min, u)} | ${fmtValue(s.summary.max, u)} | ${Number.isFinite(s.summary.spread) ? `${(s.summary.spread * 100).toFixed(0)} %` : '–'} | ${cpu === undefined ? '–' : cpu.toFixed(1)} | ${loads} |`,
        );
      }
      lines.push('');
    }
    for (const h of b.headlines) {
      lines.push(
        `- ${h.metric}: ours ${fmtValue(h.ours, h.unit)}${h.anchor !== undefined ? `, anchor ${fmtValue(h.anchor, h.unit)}` : ''}, ratio ${fmtRatio(h.ratio)}; target ${h.target}: **${h.status}**`,
      );
    }
    if (b.headlines.length) lines.push('');
    for (const n of b.notes) lines.push(`- ${n}`);
    if (b.notes.length) lines.push('');
    for (const c of b.charts) lines.push(`![${b.name}](${c})`, '');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The newest result of every benchmark among one machine's results files (a day's file holds only
 * what ran that day), with the stem of the file each came from.
 */
export function latestResults(dir: string, machineId: string): { file: ResultsFile; stemOf: Map<string, string> } | undefined {
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(`-${machineId}.json`))
        .sort()
    : [];
  if (!files.length) return undefined;
  const stemOf = new Map<string, string>();
  let merged: ResultsFile | undefined;
  for (const f of files) {
    const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ResultsFile;
    merged = { ...r, benchmarks: { ...merged?.benchmarks, ...r.benchmarks } };
    for (const name of Object.keys(r.benchmarks)) stemOf.set(name, f.slice(0, -'.json'.length));
  }
  return { file: merged!, stemOf };
}
