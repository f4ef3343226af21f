// Tests of checkpoint directories: atomic publication with a manifest of SHA-256 checksums, validation, listing, pruning.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkpointDirectoryName,
  listCheckpoints,
  publishCheckpoint,
  pruneCheckpoints,
  removeLeftovers,
  sha256File,
  verifyCheckpoint,
} from './checkpoint-store.js';
import { CorruptCheckpointError } from './errors.js';
import { temporaryFolderEachTest } from './testing/runs.js';

describe('checkpoint store', () => {
  const root = temporaryFolderEachTest('engram-store-');

  const writeTwoFiles = (text: string) => async (directory: string) => {
    await writeFile(join(directory, 'a.bin'), text);
    mkdirSync(join(directory, 'sub'));
    await writeFile(join(directory, 'sub', 'b.json'), JSON.stringify({ text }));
  };

  it('publishes a directory with a manifest of sizes and SHA-256 checksums', async () => {
    const path = await publishCheckpoint(root(), 7, writeTwoFiles('hello'));
    expect(path).toBe(join(root(), 'step-00000007'));
    expect(checkpointDirectoryName(7)).toBe('step-00000007');
    const manifest = JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8'));
    expect(manifest.step).toBe(7);
    expect(manifest.files['a.bin']).toEqual({
      bytes: 5,
      // sha256("hello")
      sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    });
    expect(manifest.files['sub/b.json'].sha256).toBe(await sha256File(join(path, 'sub', 'b.json')));
    expect((await verifyCheckpoint(path)).step).toBe(7);
    expect(readdirSync(root())).toEqual(['step-00000007']);
  });

  it('detects a missing manifest, a truncated file and a changed byte', async () => {
    const path = await publishCheckpoint(root(), 1, writeTwoFiles('some content'));
    truncateSync(join(path, 'a.bin'), 4);
    await expect(verifyCheckpoint(path)).rejects.toThrow(/a.bin has 4 bytes.*truncated/);
    writeFileSync(join(path, 'a.bin'), 'some_content');
    await expect(verifyCheckpoint(path)).rejects.toThrow(/SHA-256/);
    rmSync(join(path, 'manifest.json'));
    await expect(verifyCheckpoint(path)).rejects.toBeInstanceOf(CorruptCheckpointError);
    await expect(verifyCheckpoint(path)).rejects.toThrow(/manifest.json is missing/);
    // A manifest that is not a regular file, or absurdly large, is refused before it is read.
    mkdirSync(join(path, 'manifest.json'));
    await expect(verifyCheckpoint(path)).rejects.toThrow(/manifest\.json is not a regular file/);
    rmSync(join(path, 'manifest.json'), { recursive: true });
    writeFileSync(join(path, 'manifest.json'), Buffer.alloc(2 * 1024 * 1024, 0x20));
    await expect(verifyCheckpoint(path)).rejects.toThrow(/manifest\.json is 2097152 bytes, more than the 1048576 a manifest may have/);
  });

  it('leaves nothing behind when the writer fails, and replaces a checkpoint of the same step', async () => {
    await expect(
      publishCheckpoint(root(), 3, async () => {
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(readdirSync(root())).toEqual([]);
    await publishCheckpoint(root(), 3, writeTwoFiles('first'));
    await publishCheckpoint(root(), 3, writeTwoFiles('second'));
    expect(readdirSync(root())).toEqual(['step-00000003']);
    expect(readFileSync(join(root(), 'step-00000003', 'a.bin'), 'utf8')).toBe('second');
  });

  it('lists checkpoints oldest first with their validity, ignoring temporary directories', async () => {
    await publishCheckpoint(root(), 2, writeTwoFiles('two'));
    await publishCheckpoint(root(), 10, writeTwoFiles('ten'));
    mkdirSync(join(root(), '.step-00000011.999999.abcd.partial'));
    mkdirSync(join(root(), 'step-00000012')); // a directory without manifest
    const listed = await listCheckpoints(root(), { verify: true });
    expect(listed.map((entry) => [entry.step, entry.valid])).toEqual([
      [2, true],
      [10, true],
      [12, false],
    ]);
    expect(listed[2]?.problem).toMatch(/manifest.json is missing/);
    expect(await listCheckpoints(join(root(), 'absent'))).toEqual([]);
  });

  it('prunes all but the newest N and the kept steps, and removes leftovers of dead writers', async () => {
    for (const step of [1, 2, 3, 4, 5]) await publishCheckpoint(root(), step, writeTwoFiles(String(step)));
    // pid 2^22 + 1 is above Linux's maximum pid, so no such process runs.
    const dead = join(root(), `.step-00000006.${2 ** 22 + 1}.abcd.partial`);
    mkdirSync(dead);
    const removed = await pruneCheckpoints(root(), { keepLast: 2, keep: [2] });
    expect(removed.map((path) => path.slice(root().length + 1))).toEqual(['step-00000001', 'step-00000003']);
    expect((await listCheckpoints(root())).map((entry) => entry.step)).toEqual([2, 4, 5]);
    expect(existsSync(dead)).toBe(false);
    expect(await removeLeftovers(join(root(), 'absent'))).toEqual([]);
  });
});
