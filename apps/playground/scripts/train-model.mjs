// Trains the small model the playground ships (model.config.yaml, on the bundled book) with the engram CLI and exports it to public/model/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const app = dirname(dirname(fileURLToPath(import.meta.url)));
const target = join(app, 'public', 'model');
if (existsSync(target) && !process.argv.includes('--force')) {
  console.error(`train-model: ${target} exists; pass --force to replace the shipped model`);
  process.exit(1);
}
const run = mkdtempSync(join(tmpdir(), 'engram-playground-model-'));
const engram = (...args) => {
  const result = spawnSync('pnpm', ['--silent', '--filter', '@engram/cli', 'start', ...args], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`train-model: engram ${args[0]} failed (exit ${result.status}); the run is in ${run}`);
    process.exit(1);
  }
};
engram('train', '--config', join(app, 'model.config.yaml'), '-o', run, '--progress', 'lines', '--backend', 'wasm');
rmSync(target, { recursive: true, force: true });
engram('export', run, '-o', target);
rmSync(run, { recursive: true, force: true });
console.log(`train-model: the playground model is in ${target}`);
