// Tests of split reading: chunk cuts never split characters or words, invalid UTF-8 is reported with file and offset, words are counted the PG-19 way.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidUtf8Error } from '../errors.js';
import { makeTemporaryFolder } from '../test-support/server.js';
import { countSplitWords, countWords, createSplit, firstInvalidUtf8Offset, readSplitBytes, readSplitText, readSplitTextChunks } from './split.js';

let folder: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  folder = await makeTemporaryFolder();
});
afterAll(async () => {
  await folder.remove();
});

const sample = 'Über die Brücke — naïve café 🐋 whales\nsecond line with words\n\nthird\tline  ends here';

describe('split reading', () => {
  it('reassembles the exact text from small chunks, cut only on whitespace or character boundaries', async () => {
    const path = join(folder.path, 'sample.txt');
    await writeFile(path, sample.repeat(7));
    const bytes = new TextEncoder().encode(sample.repeat(7));
    const split = createSplit('train', [{ kind: 'file', path, start: 0, end: bytes.length }]);
    for (const chunkBytes of [16, 17, 33, 100, 4096]) {
      const pieces: string[] = [];
      for await (const chunk of readSplitTextChunks(split, chunkBytes)) pieces.push(chunk.text);
      expect(pieces.join('')).toBe(sample.repeat(7));
      expect(await countSplitWords(split, chunkBytes)).toBe(countWords(sample.repeat(7)));
    }
    expect(await readSplitText(split)).toBe(sample.repeat(7));
  });

  it('counts words split by a chunk cut inside a long run of non-whitespace once', async () => {
    const text = `${'x'.repeat(100)} short ${'é'.repeat(80)}`;
    const split = createSplit('test', [{ kind: 'memory', label: 'memory', bytes: new TextEncoder().encode(text) }]);
    expect(await countSplitWords(split, 16)).toBe(3);
    expect(await readSplitText(split)).toBe(text);
  });

  it('reads byte ranges and joins parts as separate documents', async () => {
    const path = join(folder.path, 'range.txt');
    await writeFile(path, 'alpha beta gamma');
    const split = createSplit('valid', [
      { kind: 'file', path, start: 6, end: 10 },
      { kind: 'memory', label: 'm', bytes: new TextEncoder().encode('delta') },
    ]);
    expect(new TextDecoder().decode(await readSplitBytes(split))).toBe('betadelta');
    expect(await countSplitWords(split)).toBe(2);
  });

  it('rejects invalid UTF-8 naming the file and the byte offset', async () => {
    const path = join(folder.path, 'latin1.txt');
    const bytes = new Uint8Array([...new TextEncoder().encode('fine text\nthen '), 0xe9, 0x74, 0xe9, 0x0a]);
    await writeFile(path, bytes);
    const split = createSplit('train', [{ kind: 'file', path, start: 0, end: bytes.length }]);
    const error = await readSplitText(split).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidUtf8Error);
    expect((error as InvalidUtf8Error).byteOffset).toBe(15);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/byte-level tokenizer/);
    // The offset is right with small chunks too.
    const small = await (async () => {
      try {
        for await (const chunk of readSplitTextChunks(split, 16)) void chunk;
      } catch (caught) {
        return caught;
      }
      return null;
    })();
    expect((small as InvalidUtf8Error).byteOffset).toBe(15);
  });

  it('finds invalid sequences: stray continuation, overlong, surrogate, truncated', () => {
    expect(firstInvalidUtf8Offset(new TextEncoder().encode('ok ✓'))).toBe(6);
    expect(firstInvalidUtf8Offset(new Uint8Array([0x61, 0x80]))).toBe(1);
    expect(firstInvalidUtf8Offset(new Uint8Array([0xc0, 0xaf]))).toBe(0);
    expect(firstInvalidUtf8Offset(new Uint8Array([0xed, 0xa0, 0x80]))).toBe(0);
    expect(firstInvalidUtf8Offset(new Uint8Array([0x61, 0xe2, 0x9c]))).toBe(1);
  });

  it('counts whitespace-separated words', () => {
    expect(countWords('')).toBe(0);
    expect(countWords('  one\ttwo\n\nthree  ')).toBe(3);
    expect(countWords('<unk> , .')).toBe(3);
  });
});
