#!/usr/bin/env node
// The benchmark suite: `npm run bench` runs every benchmark, `npm run bench -- NAME...` some of
// them. Each compares our tool with its anchor side by side in one run (bench/lib/bench.ts) and
// the results are merged into bench/results/<date>-<machine>.json and .md, with SVG charts, and
// the summary table into bench/README.md and the project README. Options:
//   --runs N         timed runs per side instead of each benchmark's default
//   --recipe FILE    the recipe of the build and tree benchmarks (default recipes/default.ts)
//   --no-save        print the results, write nothing (for trying a benchmark out)
//   --summary        rewrite the README summaries (newest result of each benchmark), run nothing
//   --list           list the benchmarks
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchContext, Benchmark } from './lib/bench.ts';
import { load1, machineInfo, today } from './lib/machine.ts';
import { RESULTS_DIR, WORK } from './lib/paths.ts';
import { latestResults, mergeResults, renderMarkdown, summaryTable, type BenchResult, type ResultsFile } from './lib/results.ts';
import { buildCold } from './benchmarks/build-cold.ts';
import { rebuildOverlay } from './benchmarks/rebuild-overlay.ts';
import { buildFull } from './benchmarks/build-full.ts';
import { pack } from './benchmarks/pack.ts';
import { deb } from './benchmarks/deb.ts';
import { size } from './benchmarks/size.ts';
import { memory } from './benchmarks/memory.ts';
import { connect } from './benchmarks/connect.ts';
import { parallel } from './benchmarks/parallel.ts';
import { ctlUse } from './benchmarks/ctl-use.ts';
import { sbom } from './benchmarks/sbom.ts';
import { buildEmulated } from './benchmarks/build-emulated.ts';
import { teardown } from './benchmarks/teardown.ts';
import { disposeShared } from './lib/product-host.ts';

export const BENCHMARKS: Benchmark[] = [
  buildCold,
  rebuildOverlay,
  buildFull,
  pack,
  deb,
  size,
  memory,
  connect,
  parallel,
  teardown,
  ctlUse,
  sbom,
  buildEmulated,
];

/** The READMEs with a summary, and the results directory as each links it. */
const READMES = [
  { file: path.join(import.meta.dirname, 'README.md'), results: 'results' },
  { file: path.join(import.meta.dirname, '..', 'README.md'), results: 'bench/results' },
];

function toolVersions(): Record<string, string> {
  const first = (cmd: string, args: string[], re?: RegExp) => {
    try {
      const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const line = out.split('\n').find((l) => l.trim()) ?? '';
      return (re ? re.exec(out)?.[1] : undefined) ?? line.trim();
    } catch {
      return 'missing';
    }
  };
  return {
    node: process.version,
    mmdebstrap: first('mmdebstrap', ['--version'], /mmdebstrap (\S+)/),
    debootstrap: first('dpkg-query', ['-W', '-f=${Version}', 'debootstrap']),
    zstd: first('zstd', ['--version'], /(v[\d.]+)/),
    xz: first('xz', ['--version'], /xz \(XZ Utils\) (\S+)/),
    'dpkg-deb': first('dpkg-query', ['-W', '-f=${Version}', 'dpkg']),
    tar: first('tar', ['--version'], /tar \(GNU tar\) (\S+)/),
    'systemd-nspawn': first('systemd-nspawn', ['--version'], /systemd (\d+)/),
  };
}

/** Replaces the text between the summary markers of each README: the newest result of every benchmark. */
function updateReadmes(machineId: string): void {
  const latest = latestResults(RESULTS_DIR, machineId);
  if (!latest) return;
  const { file, stemOf } = latest;
  const stems = [...new Set(stemOf.values())].sort();
  const start = '<!-- summary:start -->';
  const end = '<!-- summary:end -->';
  for (const readme of READMES) {
    if (!fs.existsSync(readme.file)) continue;
    const text = fs.readFileSync(readme.file, 'utf8');
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < i) continue;
    const md = (stem: string) => `${readme.results}/${stem}.md`;
    const links = stems.map((stem) => `[${md(stem)}](${md(stem)})`).join(', ');
    const body = `\nLatest result of each benchmark, from ${links} (${file.machine.nproc} CPUs, ${file.machine.cpuModel}, ${file.machine.memoryGiB} GiB, Linux ${file.machine.kernel}).\n\n${summaryTable(file, (name) => md(stemOf.get(name)!))}\n\n`;
    fs.writeFileSync(readme.file, text.slice(0, i + start.length) + body + text.slice(j));
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      recipe: { type: 'string' },
      'no-save': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      summary: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || values.list) {
    process.stdout.write('usage: npm run bench -- [NAME...] [--runs N] [--recipe FILE] [--no-save] [--summary]\n\nbenchmarks:\n');
    for (const b of BENCHMARKS) process.stdout.write(`  ${b.name.padEnd(16)} ${b.title} (vs ${b.anchor})\n`);
    return 0;
  }
  const unknown = positionals.filter((p) => !BENCHMARKS.some((b) => b.name === p));
  if (unknown.length) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  // Only rewrites the READMEs from committed results: no root, tool versions or scratch space.
  if (values.summary) {
    updateReadmes(machineInfo().id);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('the benchmarks build images and boot hosts: run them as root\n');
    return 2;
  }
  const runs = values.runs ? Number(values.runs) : undefined;
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) {
    process.stderr.write(`--runs: "${values.runs}" is not a positive integer\n`);
    return 2;
  }
  if (values.recipe) process.env.EB_BENCH_RECIPE = path.resolve(values.recipe);
  const selected = positionals.length ? BENCHMARKS.filter((b) => positionals.includes(b.name)) : BENCHMARKS;
  const machine = machineInfo();
  const date = today();
  const stem = `${date}-${machine.id}`;
  const stemPath = path.join(RESULTS_DIR, stem);
  const base = { date, machine, tools: toolVersions() };
  fs.mkdirSync(WORK, { recursive: true });
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const shared = new Map<string, unknown>();
  const done: BenchResult[] = [];
  log(`machine ${machine.hostname}: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}; scratch ${WORK}`);
  try {
    for (const b of selected) {
      const ctx: BenchContext = {
        runs: (d) => runs ?? d,
        log,
        shared,
        writeChart(name, svg) {
          const file = `${stem}-${name}.svg`;
          if (!values['no-save']) {
            fs.mkdirSync(RESULTS_DIR, { recursive: true });
            fs.writeFileSync(path.join(RESULTS_DIR, file), svg);
          }
          return file;
        },
      };
      const started = new Date();
      const loadStart = load1();
      log(`== ${b.name}: ${b.title} (load ${loadStart})`);
      // When and under what load it ran: the same for a result and for a failure.
      const timing = () => ({
        name: b.name,
        title: b.title,
        anchor: b.anchor,
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        durationS: (Date.now() - started.getTime()) / 1000,
        load: { start: loadStart, end: load1() },
      });
      let result: BenchResult;
      try {
        const out = await b.run(ctx);
        result = { ...timing(), ...out };
      } catch (err) {
        const message = (err as Error).stack ?? String(err);
        log(`${b.name} FAILED: ${message}`);
        result = {
          ...timing(),
          runs: 0,
          headlines: [{ metric: 'run', unit: 's', ours: Number.NaN, target: '–', status: 'FAILED' }],
          series: [],
          notes: [`The benchmark failed: ${(err as Error).message.split('\n').slice(0, 8).join(' / ')}`],
          charts: [],
        };
      }
      done.push(result);
      for (const h of result.headlines) log(`${b.name}: ${h.metric}: ${h.status} (ratio ${h.ratio?.toFixed(3) ?? '–'})`);
      if (!values['no-save']) {
        mergeResults(stemPath, base, [result]);
        updateReadmes(machine.id);
      }
    }
  } finally {
    await disposeShared(shared, log);
  }
  const file: ResultsFile = { ...base, benchmarks: Object.fromEntries(done.map((r) => [r.name, r])) };
  if (values['no-save']) process.stdout.write(renderMarkdown(file, stem));
  else process.stdout.write(`${summaryTable(file)}\n\nresults: ${path.relative(process.cwd(), stemPath)}.md and .json\n`);
  return done.some((r) => r.headlines.some((h) => h.status === 'FAILED')) ? 1 : 0;
}

process.exitCode = await main();
