#!/usr/bin/env node
// Launcher of the `engram` command: runs the built CLI (dist/cli.js), or says how to build it.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(built)) {
  console.error('engram: the CLI is not built yet (dist/cli.js is missing): run `pnpm build` in the repository, or use `pnpm engram ...` there');
  process.exit(1);
}
await import(built.href);
