#!/usr/bin/env node
// The `engram-bench` executable: parses flags and runs the chosen suites.
import { runBenchCli } from './cli.js';

process.exitCode = await runBenchCli(process.argv.slice(2));
