#!/usr/bin/env node
// The `engram` executable: runs the command line and exits with its code.
import { runCli, userDirectoryOf } from './program.js';

// Relative paths mean what they meant where the user typed the command (see userDirectoryOf).
process.chdir(userDirectoryOf(process.env, process.cwd()));

// A closed pipe (e.g. `| head`) is not an error of the command.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2));
