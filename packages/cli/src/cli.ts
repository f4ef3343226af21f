#!/usr/bin/env node
// The `engram` executable: runs the command line and exits with its code.
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
