// Tests of the subword tokenizer: BPE merges against a naive recount-everything trainer, encoding against a naive merge-by-rank encoder, exact round trips, tokenizer.json save/load, a hand-written Unigram tokenizer.json, chunked split encoding and word counts for perplexity.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ByteLevelPreTokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundledBook } from '../corpora/bundled-book.js';
import { countWords, createSplit } from '../corpora/split.js';
import { InvalidArgumentError, TokenizerFileError, VocabularyMismatchError } from '../errors.js';
import { makeTemporaryFolder } from '../test-support/server.js';
import { ByteTokenizer } from './byte.js';
import { buildTokenizer, encodeSplit } from './corpus.js';
import { loadTokenizer, saveTokenizer } from './io.js';
import { SubwordTokenizer, createSubwordTokenizer, lastSafeCut } from './subword.js';

const mixed = 'Call me Ishmael. Some years ago—never mind how long precisely—\n\n\n  having little 🐋 or no money,\tin my purse; naïve café 1851!\r\nthe end\n';
let corpus = '';

let folder: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  folder = await makeTemporaryFolder();
  corpus = (await loadBundledBook()).train.slice(100_000, 120_000) + mixed.repeat(3);
});
afterAll(async () => {
  await folder.remove();
});

function preTokenize(text: string): string[] {
  return new ByteLevelPreTokenizer({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } as never).pre_tokenize_text(text);
}

function mergesOf(tokenizer: SubwordTokenizer): [string, string][] {
  return tokenizer.toDocument().model.merges as [string, string][];
}

/** Naive BPE: recount every pair of every pre-token after each merge; most frequent pair, ties by smaller ids. */
function naiveMerges(text: string, vocabSize: number): [string, string][] {
  const byteTokens = Object.values(new ByteLevelPreTokenizer({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } as never).byte_encoder);
  const tokens = [...byteTokens];
  const words = preTokenize(text).map((piece) => Array.from(piece, (character) => tokens.indexOf(character)));
  const merges: [string, string][] = [];
  while (tokens.length < vocabSize) {
    const counts = new Map<string, number>();
    for (const word of words) for (let index = 0; index + 1 < word.length; index += 1) {
      const key = `${word[index]},${word[index + 1]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    let best: [number, number] | null = null;
    let bestCount = 1;
    for (const [key, count] of counts) {
      const pair = key.split(',').map(Number) as [number, number];
      if (count > bestCount || (count === bestCount && best !== null && (pair[0] < best[0] || (pair[0] === best[0] && pair[1] < best[1])))) {
        best = pair;
        bestCount = count;
      }
    }
    if (best === null) break;
    const [left, right] = best;
    merges.push([tokens[left] as string, tokens[right] as string]);
    tokens.push((tokens[left] as string) + (tokens[right] as string));
    for (const word of words) {
      for (let index = 0; index + 1 < word.length; index += 1) {
        if (word[index] === left && word[index + 1] === right) word.splice(index, 2, tokens.length - 1);
      }
    }
  }
  return merges;
}

/** Naive BPE encoding: in each pre-token, repeatedly apply the merge of lowest rank present. */
function naiveEncode(tokenizer: SubwordTokenizer, text: string): number[] {
  const document = tokenizer.toDocument();
  const vocabulary = document.model.vocab as Record<string, number>;
  const rank = new Map(mergesOf(tokenizer).map(([left, right], index) => [`${left} ${right}`, index]));
  const ids: number[] = [];
  for (const piece of preTokenize(text)) {
    const symbols = Array.from(piece);
    for (;;) {
      let bestIndex = -1;
      let bestRank = Infinity;
      for (let index = 0; index + 1 < symbols.length; index += 1) {
        const candidate = rank.get(`${symbols[index]} ${symbols[index + 1]}`);
        if (candidate !== undefined && candidate < bestRank) {
          bestRank = candidate;
          bestIndex = index;
        }
      }
      if (bestIndex < 0) break;
      symbols.splice(bestIndex, 2, (symbols[bestIndex] as string) + (symbols[bestIndex + 1] as string));
    }
    for (const symbol of symbols) ids.push(vocabulary[symbol] as number);
  }
  return ids;
}

describe('SubwordTokenizer (byte-level BPE trained here)', () => {
  it('learns the same merges as a naive trainer that recounts every pair', () => {
    const text = corpus.slice(0, 6000);
    const tokenizer = createSubwordTokenizer(text, { vocabSize: 420 });
    const expected = naiveMerges(text, 420);
    expect(expected.length).toBeGreaterThan(100);
    expect(mergesOf(tokenizer)).toEqual(expected);
    expect(tokenizer.vocabSize).toBe(256 + expected.length);
    expect(tokenizer.model).toBe('BPE');
  });

  it('is encoded by @huggingface/tokenizers exactly as a naive merge-by-rank encoder, and decodes exactly', () => {
    const tokenizer = createSubwordTokenizer(corpus, { vocabSize: 600 });
    for (const text of [mixed, corpus.slice(1000, 4000), 'unseen ÆØÅ 中文 \u0000 text \n\n\t\n']) {
      const ids = tokenizer.encode(text);
      expect([...ids]).toEqual(naiveEncode(tokenizer, text));
      expect(tokenizer.decode(ids)).toBe(text);
    }
    expect(tokenizer.encode(corpus).length).toBeLessThan(new TextEncoder().encode(corpus).length / 2);
  });

  it('stops early when no pair occurs twice, and rejects a vocabulary smaller than the 256 bytes', () => {
    expect(createSubwordTokenizer('abcd', { vocabSize: 1000 }).vocabSize).toBe(256);
    expect(createSubwordTokenizer('abab', { vocabSize: 1000 }).vocabSize).toBe(257);
    expect(() => createSubwordTokenizer('abc', { vocabSize: 100 })).toThrow(InvalidArgumentError);
    expect(() => createSubwordTokenizer('abc').decode([256])).toThrow(/\[0, 256\)/);
  });

  it('counts words of the original text for word-level perplexity, not tokens', () => {
    const tokenizer = createSubwordTokenizer(corpus, { vocabSize: 400 });
    expect(tokenizer.countWords(mixed)).toBe(mixed.split(/\s+/).filter(Boolean).length);
    expect(tokenizer.countWords(mixed)).toBe(new ByteTokenizer().countWords(mixed));
    expect(tokenizer.countWords(mixed)).not.toBe(tokenizer.encode(mixed).length);
    // The same total NLL gives the same word-level perplexity whatever the vocabulary (SPEC 7).
    const totalNll = 123.4;
    expect(Math.exp(totalNll / tokenizer.countWords(mixed))).toBeCloseTo(Math.exp(totalNll / countWords(mixed)), 12);
  });

  it('saves a Hugging Face tokenizer.json and loads it back with the same fingerprint and ids', async () => {
    const tokenizer = createSubwordTokenizer(corpus, { vocabSize: 300 });
    const path = join(folder.path, 'tokenizer.json');
    await saveTokenizer(tokenizer, path);
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ version: '1.0', pre_tokenizer: { type: 'ByteLevel' }, decoder: { type: 'ByteLevel' }, model: { type: 'BPE' } });
    const loaded = await loadTokenizer(path, { expectedFingerprint: tokenizer.fingerprint });
    expect(loaded).toBeInstanceOf(SubwordTokenizer);
    expect(loaded.fingerprint).toBe(tokenizer.fingerprint);
    expect([...loaded.encode(mixed)]).toEqual([...tokenizer.encode(mixed)]);
    const other = createSubwordTokenizer(corpus, { vocabSize: 301 });
    await expect(loadTokenizer(path, { expectedFingerprint: other.fingerprint })).rejects.toBeInstanceOf(VocabularyMismatchError);
  });

  it('loads a hand-written Unigram tokenizer.json with a Metaspace pre-tokenizer', async () => {
    const document = {
      version: '1.0',
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      post_processor: null,
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      model: {
        type: 'Unigram',
        unk_id: 0,
        byte_fallback: false,
        vocab: [['<unk>', 0], ['▁', -3], ['▁the', -1], ['▁whale', -1.5], ['wh', -2], ['ale', -2], ['a', -3], ['e', -3], ['h', -3], ['l', -3], ['t', -3], ['w', -3]],
      },
    };
    const path = join(folder.path, 'unigram.json');
    await writeFile(path, JSON.stringify(document));
    const tokenizer = await loadTokenizer(path);
    expect(tokenizer.kind).toBe('subword');
    expect((tokenizer as SubwordTokenizer).model).toBe('Unigram');
    expect(tokenizer.vocabSize).toBe(12);
    const ids = tokenizer.encode('the whale');
    expect([...ids]).toEqual([2, 3]);
    expect(tokenizer.decode(ids)).toBe('the whale');
    expect(tokenizer.tokenName(3)).toBe('▁whale');
  });

  it('rejects a tokenizer.json the library cannot read, naming the file', async () => {
    const path = join(folder.path, 'broken.json');
    await writeFile(path, JSON.stringify({ model: { type: 'NoSuchModel' } }));
    const error = await loadTokenizer(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TokenizerFileError);
    expect((error as Error).message).toContain(path);
  });

  it('cuts text only where the byte-level pattern always splits', () => {
    expect(lastSafeCut('a\n\nb\nc')).toBe(4);
    expect(lastSafeCut('a\n \nb')).toBe(1);
    expect(lastSafeCut('the white  whale')).toBe(9);
    expect(lastSafeCut('\n\n\n')).toBe(-1);
    expect(lastSafeCut('whale')).toBe(-1);
    for (const text of [mixed, corpus.slice(0, 3000)]) {
      for (let end = 1; end <= text.length; end += 7) {
        const piece = text.slice(0, end);
        const cut = lastSafeCut(piece);
        if (cut < 0) continue;
        expect([...preTokenize(piece.slice(0, cut)), ...preTokenize(text.slice(cut))]).toEqual(preTokenize(text));
      }
    }
  });

  it('builds from a training split and encodes a split like the whole text, whatever the chunk size', async () => {
    const path = join(folder.path, 'split.txt');
    await writeFile(path, corpus);
    const size = new TextEncoder().encode(corpus).length;
    const split = createSplit('train', [{ kind: 'file', path, start: 0, end: size }]);
    const whole = createSubwordTokenizer(corpus, { vocabSize: 400 });
    for (const chunkBytes of [16, 100, 4096]) {
      const built = await buildTokenizer('subword', split, { chunkBytes, subwordVocabSize: 400 });
      expect(built.fingerprint).toBe(whole.fingerprint);
      expect([...(await encodeSplit(whole, split, { chunkBytes }))]).toEqual([...whole.encode(corpus)]);
    }
  });
});
