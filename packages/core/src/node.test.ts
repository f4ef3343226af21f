// Tests of the atomic writers (contents land whole, old contents are replaced, no temporary file is left, fsync is requested) and of isProcessAlive.
import { spawnSync } from 'node:child_process';
import fs, { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { isProcessAlive, writeFileAtomic, writeFileAtomicSync } from './node.js';

const folders: string[] = [];
function folder(): string {
  const made = mkdtempSync(join(tmpdir(), 'engram-core-'));
  folders.push(made);
  return made;
}
afterEach(() => {
  for (const made of folders.splice(0)) rmSync(made, { recursive: true, force: true });
  vi.restoreAllMocks();
});

describe('writeFileAtomic', () => {
  test('writes text as UTF-8 and replaces an existing file, leaving nothing else behind', async () => {
    const directory = folder();
    const path = join(directory, 'notes.json');
    writeFileSync(path, 'old contents that are longer than the new ones');
    await writeFileAtomic(path, 'é ok\n');
    expect(readFileSync(path, 'utf8')).toBe('é ok\n');
    expect(readdirSync(directory)).toEqual(['notes.json']);
  });

  test('writes exactly the bytes of a view into a larger buffer', async () => {
    const path = join(folder(), 'bytes.bin');
    const backing = new Uint8Array([9, 1, 2, 3, 9]);
    await writeFileAtomic(path, backing.subarray(1, 4));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
  });

  test('the synchronous form does the same', () => {
    const directory = folder();
    const path = join(directory, 'log.txt');
    writeFileAtomicSync(path, 'first\n');
    writeFileAtomicSync(path, new Uint8Array([104, 105]));
    expect(readFileSync(path, 'utf8')).toBe('hi');
    expect(readdirSync(directory)).toEqual(['log.txt']);
  });

  test('fsyncs the temporary file before the rename, in both forms', async () => {
    const directory = folder();
    const fsync = vi.spyOn(fs, 'fsync');
    const fsyncSync = vi.spyOn(fs, 'fsyncSync');
    await writeFileAtomic(join(directory, 'a.txt'), 'a');
    expect(fsync).toHaveBeenCalledTimes(1);
    writeFileAtomicSync(join(directory, 'b.txt'), 'b');
    expect(fsyncSync).toHaveBeenCalledTimes(1);
  });

  test('fails on a missing folder without creating anything', async () => {
    const directory = folder();
    await expect(writeFileAtomic(join(directory, 'missing', 'x.txt'), 'x')).rejects.toThrow(/ENOENT/);
    expect(() => writeFileAtomicSync(join(directory, 'missing', 'x.txt'), 'x')).toThrow(/ENOENT/);
    expect(readdirSync(directory)).toEqual([]);
  });
});

describe('isProcessAlive', () => {
  test('is true for this process and its parent, false for a child that has exited', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isProcessAlive(process.ppid)).toBe(true);
    const child = spawnSync(process.execPath, ['-e', '']);
    expect(child.status).toBe(0);
    expect(child.pid).toBeGreaterThan(0);
    expect(isProcessAlive(child.pid as number)).toBe(false);
  });

  test('counts a process it may not signal as running (EPERM), and other failures as not running', () => {
    const refused = Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
    const missing = Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
    const kill = vi.spyOn(process, 'kill').mockImplementationOnce(() => {
      throw refused;
    });
    expect(isProcessAlive(4_000_000)).toBe(true);
    kill.mockImplementationOnce(() => {
      throw missing;
    });
    expect(isProcessAlive(4_000_000)).toBe(false);
    expect(kill).toHaveBeenCalledWith(4_000_000, 0);
  });
});
