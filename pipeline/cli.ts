#!/usr/bin/env -S node --max-semi-space-size=4
// The ephemeral-builder command line: parses arguments (pipeline/commands/program.ts) and is the
// one place where errors become messages and exit codes (0 ok, 1 build failed, 2 bad input or
// usage, 130 interrupted by SIGINT and 143 by SIGTERM; `outdated`: 0 nothing behind, 1 something
// behind, 2 any error). With --json, every error, usage errors too, is also a JSON line on stdout.
// The V8 flag caps the young generation at about 12 MB: by default it grew to 67 MB during the
// bootstrap (process.memoryUsage), and node kept that memory for the rest of the build. V8 reads
// the flag only at start, hence the "#!" line (bin/ephemeral-builder.js has it too).
import { CommanderError } from 'commander';
import { EXIT, exitCodeFor } from './errors.ts';
import { program } from './commands/program.ts';
import { describeError } from './ui/describe-error.ts';

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    const json = argv.includes('--json');
    if (err instanceof CommanderError) {
      // commander has written the message to stderr already.
      if (err.exitCode === 0) return EXIT.ok;
      if (json) process.stdout.write(`${JSON.stringify({ event: 'error', kind: 'usage', message: err.message.replace(/^error: /, '') })}\n`);
      return EXIT.badInput;
    }
    const { text, data } = describeError(err);
    if (json) process.stdout.write(`${JSON.stringify({ event: 'error', ...data })}\n`);
    process.stderr.write(`${text}\n`);
    // outdated's 1 means "something is behind", so every error of it is 2.
    return argv[2] === 'outdated' ? EXIT.badInput : exitCodeFor(err);
  }
}

process.exitCode = await main(process.argv);
