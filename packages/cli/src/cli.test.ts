// The executable itself: spawned as a process (from source through tsx), exit codes and stderr lines.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const packageDirectory = fileURLToPath(new URL('..', import.meta.url));
const tsx = join(packageDirectory, 'node_modules', '.bin', 'tsx');

function engram(args: string[]) {
  return spawnSync(tsx, ['--conditions=@engram/source', 'src/cli.ts', ...args], {
    cwd: packageDirectory,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('the engram binary', () => {
  it('prints help and exits 0', () => {
    const result = engram(['train', '--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: engram train [options]');
  });

  it('exits 2 with one line for a bad configuration', () => {
    const result = engram(['config', '--set', 'training.steps=-1']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('engram: invalid configuration (flags): training.steps: must be > 0, got -1\n');
  });

  it('exits 2 with one line for an unknown option', () => {
    const result = engram(['eval', 'somewhere', '--wat']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^engram: error: unknown option '--wat'.* \(see --help\)\n$/);
  });
});
