#!/usr/bin/env node
// The `engram-bench` executable: parses flags and runs the chosen suites.
import { runBenchCli } from './cli.js';

// A closed pipe (e.g. `| head`) is not an error of the command.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await runBenchCli(process.argv.slice(2));
