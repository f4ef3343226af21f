// Tests of the by-name entry point and of encoding a whole prepared corpus (the bundled book, offline).
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { StreamBatcher } from '../batching/stream-batcher.js';
import { loadBundledBook } from './bundled-book.js';
import { CORPUS_NAMES, encodeCorpus, prepareCorpus } from './prepare.js';

describe('prepareCorpus / encodeCorpus', () => {
  it('encodes the bundled book at character level with a vocabulary from train only, ready to batch', async () => {
    const corpus = await prepareCorpus('moby-dick');
    const book = await loadBundledBook();
    const encoded = await encodeCorpus(corpus, 'character');
    expect(encoded.tokenizer.kind).toBe('character');
    expect(encoded.train.length).toBe(Array.from(book.train).length);
    expect(encoded.valid.length).toBe(Array.from(book.valid).length);
    expect(encoded.tokenizer.decode(encoded.test)).toBe(
      Array.from(book.test)
        .map((character) => (book.train.includes(character) ? character : '\uFFFD'))
        .join(''),
    );
    const batch = new StreamBatcher(encoded.train, { batchSize: 4, segmentLength: 32 }).next();
    expect(batch.inputs.length).toBe(128);
  });

  it('encodes at byte level by default when the corpus recommends it, and rejects unknown names', async () => {
    expect(CORPUS_NAMES).toContain('pg19');
    const corpus = await prepareCorpus('moby-dick');
    const encoded = await encodeCorpus(corpus, 'byte');
    expect(encoded.valid.length).toBe(corpus.splits.valid.byteLength);
    await expect(prepareCorpus('wikitext-2' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(prepareCorpus('local', {} as never)).rejects.toThrow(/options\.path/);
  });
});
