// Tests of the file-safety helpers: folder swap (success and failure), leftovers, file-system error messages, the caller's directory, the parser's exit codes and the backend advice.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { setupBackend } from './backend.js';
import { explainedFileSystemCodes, fileSystemError, removeTemporaryLeftovers, replaceFolder, withDirectoryLock } from './files.js';
import { captureIo } from './io.js';
import { runCli, userDirectoryOf } from './program.js';
import { temporaryRoot } from './test-support.js';

const root = temporaryRoot('engram-cli-files-');

describe('replaceFolder', () => {
  it('swaps a new folder in and removes the old one only afterwards', async () => {
    const target = join(root, 'swap');
    mkdirSync(target);
    writeFileSync(join(target, 'old.txt'), 'old');
    let sawOld = false;
    await replaceFolder(target, async (folder) => {
      // While the new one is being filled, the old one is still in place.
      sawOld = readFileSync(join(target, 'old.txt'), 'utf8') === 'old';
      writeFileSync(join(folder, 'new.txt'), 'new');
    });
    expect(sawOld).toBe(true);
    expect(readdirSync(target)).toEqual(['new.txt']);
    expect(readdirSync(root)).toEqual(['swap']);
  });

  it('leaves the target untouched and nothing temporary when filling fails', async () => {
    const target = join(root, 'keep');
    mkdirSync(target);
    writeFileSync(join(target, 'precious.txt'), 'precious');
    await expect(
      replaceFolder(target, async (folder) => {
        writeFileSync(join(folder, 'half.txt'), 'half');
        throw new Error('disk on fire');
      }),
    ).rejects.toThrow('disk on fire');
    expect(readdirSync(target)).toEqual(['precious.txt']);
    expect(readFileSync(join(target, 'precious.txt'), 'utf8')).toBe('precious');
    expect(readdirSync(root).sort()).toEqual(['keep', 'swap']);
  });

  it('removes half-filled folders of dead writers only, never a moved-aside old folder or a live writer\'s', async () => {
    const folder = join(root, 'leftovers');
    const dead = '.cache.engram-tmp-new-4999999-0a1b2c3d';
    const old = '.cache.engram-tmp-old-4999999-0a1b2c3d';
    const live = `.cache.engram-tmp-new-${process.pid}-0a1b2c3d`;
    for (const name of [dead, old, live, 'cache']) mkdirSync(join(folder, name), { recursive: true });
    await removeTemporaryLeftovers(folder);
    expect(readdirSync(folder).sort()).toEqual([old, live, 'cache'].sort());
    rmSync(folder, { recursive: true });
  });

  it('the lock is released after the action, also when it fails', async () => {
    const directory = join(root, 'locked');
    await expect(withDirectoryLock(directory, async () => Promise.reject(new Error('failed inside')))).rejects.toThrow('failed inside');
    expect(await withDirectoryLock(directory, async () => 'again')).toBe('again');
    expect(existsSync(join(root, '.locked.engram-lock'))).toBe(false);
  });
});

describe('fileSystemError', () => {
  it.each([
    ['ENOSPC', /^cannot write the run \(runs\/x\): no space left on the device: free some space or choose another location \[ENOSPC\]$/],
    ['EACCES', /^cannot write the run \(runs\/x\): permission denied: check the permissions or choose another location \[EACCES\]$/],
    ['ENOENT', /no such file or directory: check the path \[ENOENT\]$/],
    ['EEXIST', /something is already there .* \[EEXIST\]$/],
    ['ENOTDIR', /a part of the path is a file, not a folder: check the path \[ENOTDIR\]$/],
  ])('%s names the path the user gave, not the temporary file, and what to do', (code, message) => {
    const raw = Object.assign(new Error(`${code}: open 'runs/x/.train.jsonl.123.tmp'`), { code, path: 'runs/x/.train.jsonl.123.tmp' });
    const wrapped = fileSystemError(raw, 'runs/x', 'write the run') as Error;
    expect(wrapped.message).toMatch(message);
    expect(wrapped.message).not.toContain('.tmp');
    expect(wrapped.cause).toBe(raw);
    expect(explainedFileSystemCodes).toContain(code);
  });

  it('leaves other errors alone', () => {
    const other = new Error('not a file-system error');
    expect(fileSystemError(other, 'x', 'y')).toBe(other);
  });
});

describe('the command line', () => {
  it('resolves relative paths against the caller under `pnpm engram`, else the working directory', () => {
    const viaScript = { npm_lifecycle_event: 'start', npm_package_name: '@engram/cli', INIT_CWD: '/home/me/repo' };
    expect(userDirectoryOf(viaScript, '/home/me/repo/packages/cli')).toBe('/home/me/repo');
    expect(userDirectoryOf({ ...viaScript, npm_package_name: 'someone-else' }, '/work')).toBe('/work');
    expect(userDirectoryOf({ INIT_CWD: '/elsewhere' }, '/work')).toBe('/work');
  });

  it.each([
    [['train', '--out', 'x', '--frobnicate'], /unknown option '--frobnicate'/],
    [['train'], /required option '-o, --out <dir>' not specified/],
    [['train', '-o', 'x', '--kind', 'lstm'], /Allowed choices are txl/],
    [['eval'], /missing required argument 'model'/],
    [['generate', 'x', '--max-new-tokens', 'many'], /--max-new-tokens must be an integer >= 1/],
    [['no-such-command'], /unknown command 'no-such-command'/],
  ])('%j: whatever the argument parser rejects exits 2 with one line', async (argv, message) => {
    const io = captureIo();
    expect(await runCli(argv, io)).toBe(2);
    expect(io.errors().trimEnd().split('\n')).toHaveLength(1);
    expect(io.errors()).toMatch(message);
  });

  it('advice for a backend that cannot run names --backend, not an environment variable the command ignores', async () => {
    const error = await setupBackend('tensorflow').catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/Backend "tensorflow" is not available: .*, or choose another with --backend \(auto, wasm or cpu\)$/);
    expect((error as Error).message).not.toContain('ENGRAM_BACKEND');
    await setupBackend('wasm');
  });
});
