// Tests of the byte, character and word tokenizers: round trips, vocabularies from train, fingerprints, save/load, vocabulary mismatch, and split encoding equal to whole-text encoding.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSplit } from '../corpora/split.js';
import { InvalidArgumentError, InvalidUtf8Error, TokenizerFileError, VocabularyMismatchError } from '../errors.js';
import { makeTemporaryFolder } from '../test-support/server.js';
import { ByteTokenizer } from './byte.js';
import { CharacterTokenizer, createCharacterTokenizer } from './character.js';
import { buildTokenizer, encodeSplit } from './corpus.js';
import { assertSameVocabulary } from './document.js';
import { loadTokenizer, saveTokenizer } from './io.js';
import { WordTokenizer, createWordTokenizer } from './word.js';

const train = 'Call me Ishmael. Some years ago — never mind how long precisely —\nhaving little or no money in my purse, 🐋 and nothing particular\n\nto interest me on shore.\n';

let folder: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  folder = await makeTemporaryFolder();
});
afterAll(async () => {
  await folder.remove();
});

describe('ByteTokenizer', () => {
  it('round-trips any text through UTF-8 bytes', () => {
    const tokenizer = new ByteTokenizer();
    const ids = tokenizer.encode(train);
    expect(ids.length).toBe(new TextEncoder().encode(train).length);
    expect(Math.max(...ids)).toBeLessThan(256);
    expect(tokenizer.decode(ids)).toBe(train);
    expect(tokenizer.vocabSize).toBe(256);
    expect(tokenizer.tokenName(10)).toBe('0x0a');
    expect(tokenizer.countWords(train)).toBe(train.split(/\s+/).filter(Boolean).length);
    expect(() => tokenizer.decode([256])).toThrow(InvalidArgumentError);
  });

  it('encodes raw (even invalid UTF-8) bytes', () => {
    const tokenizer = new ByteTokenizer();
    const bytes = new Uint8Array([0xff, 0x00, 0x80]);
    expect([...tokenizer.encodeBytes(bytes)]).toEqual([255, 0, 128]);
    expect([...tokenizer.decodeBytes([255, 0, 128])]).toEqual([255, 0, 128]);
  });
});

describe('CharacterTokenizer', () => {
  it('builds its vocabulary from train (code-point order after <unk>) and round-trips', () => {
    const tokenizer = createCharacterTokenizer(train);
    const characters = [...new Set(Array.from(train))].sort((left, right) => (left.codePointAt(0) as number) - (right.codePointAt(0) as number));
    expect(tokenizer.getVocabulary()).toEqual(['<unk>', ...characters]);
    const ids = tokenizer.encode(train);
    expect(ids.length).toBe(Array.from(train).length);
    expect(tokenizer.decode(ids)).toBe(train);
    expect(ids.includes(0)).toBe(false);
  });

  it('maps unseen characters to <unk> (decoded as U+FFFD)', () => {
    const tokenizer = createCharacterTokenizer('abc');
    expect([...tokenizer.encode('abz')]).toEqual([1, 2, 0]);
    expect(tokenizer.decode(tokenizer.encode('abz'))).toBe('ab\uFFFD');
  });

  it('has a fingerprint that depends only on the vocabulary', () => {
    expect(createCharacterTokenizer('abc').fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(createCharacterTokenizer('abc').fingerprint).toBe(createCharacterTokenizer('cbaabc').fingerprint);
    expect(createCharacterTokenizer('abc').fingerprint).not.toBe(createCharacterTokenizer('abd').fingerprint);
  });
});

describe('WordTokenizer', () => {
  it('builds the vocabulary from train with <eos> and <unk>, by falling count then string order', () => {
    const tokenizer = createWordTokenizer('b a b c\nc b\n');
    expect(tokenizer.getVocabulary()).toEqual(['<eos>', '<unk>', 'b', 'c', 'a']);
    expect([...tokenizer.encode('b a b c\nc b\n')]).toEqual([2, 4, 2, 3, 0, 3, 2, 0]);
    expect([...tokenizer.encode('a z\n')]).toEqual([4, 1, 0]);
  });

  it('round-trips normalised text: one space between words, one <eos> per line', () => {
    const tokenizer = createWordTokenizer(train);
    const ids = tokenizer.encode(train);
    const normalised = `${train
      .split('\n')
      .slice(0, -1)
      .map((line) => line.trim().split(/\s+/).filter(Boolean).join(' '))
      .join('\n')}\n`;
    expect(tokenizer.decode(ids)).toBe(normalised);
    expect([...ids].filter((id) => id === 0).length).toBe(4);
    expect(tokenizer.countWords(train)).toBe([...ids].filter((id) => id !== 0).length);
  });

  it('supports minimumCount, maximumWords and endOfLine: false', () => {
    const text = 'a a a b b c\n';
    expect(createWordTokenizer(text, { minimumCount: 2 }).getVocabulary()).toEqual(['<eos>', '<unk>', 'a', 'b']);
    expect(createWordTokenizer(text, { maximumWords: 1 }).getVocabulary()).toEqual(['<eos>', '<unk>', 'a']);
    const plain = createWordTokenizer(text, { endOfLine: false });
    expect([...plain.encode('a b\nc\n')]).toEqual([2, 3, 4]);
    expect(plain.fingerprint).not.toBe(createWordTokenizer(text).fingerprint);
  });
});

describe('saving and loading', () => {
  it('round-trips every tokenizer through JSON with an atomic write', async () => {
    const tokenizers = [new ByteTokenizer(), createCharacterTokenizer(train), createWordTokenizer(train, { endOfLine: false })];
    for (const [index, tokenizer] of tokenizers.entries()) {
      const path = join(folder.path, `tokenizer-${index}.json`);
      await saveTokenizer(tokenizer, path);
      const loaded = await loadTokenizer(path, { expectedFingerprint: tokenizer.fingerprint });
      expect(loaded.kind).toBe(tokenizer.kind);
      expect(loaded.fingerprint).toBe(tokenizer.fingerprint);
      expect([...loaded.encode(train)]).toEqual([...tokenizer.encode(train)]);
      expect(loaded.decode(loaded.encode(train))).toBe(tokenizer.decode(tokenizer.encode(train)));
    }
    expect((await readdir(folder.path)).filter((name) => !name.endsWith('.json'))).toEqual([]);
  });

  it('rejects a vocabulary that does not match a checkpoint, naming the checkpoint', async () => {
    const path = join(folder.path, 'checkpoint-tokenizer.json');
    await saveTokenizer(createCharacterTokenizer('abc'), path);
    const other = createCharacterTokenizer('abcd');
    const error = await loadTokenizer(path, { expectedFingerprint: other.fingerprint }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(VocabularyMismatchError);
    expect((error as Error).message).toContain(path);
    expect(() => assertSameVocabulary(other, createCharacterTokenizer('abc').fingerprint, 'checkpoints/step-100', 4)).toThrow(/checkpoints\/step-100.*expected 4 tokens/);
    expect(() => assertSameVocabulary(other, other.fingerprint, 'x')).not.toThrow();
  });

  it('rejects an edited, malformed or unknown tokenizer file with TokenizerFileError naming it', async () => {
    const path = join(folder.path, 'edited.json');
    await saveTokenizer(createWordTokenizer('a b c\n'), path);
    const document = JSON.parse(await readFile(path, 'utf8')) as { vocabulary: string[] };
    document.vocabulary.push('extra');
    await writeFile(path, JSON.stringify(document));
    await expect(loadTokenizer(path)).rejects.toThrow(/does not match its vocabulary/);

    const broken = join(folder.path, 'broken.json');
    await writeFile(broken, '{"format": "engram-tokenizer", ');
    const error = await loadTokenizer(broken).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TokenizerFileError);
    expect((error as Error).message).toContain(broken);

    const wrongKind = join(folder.path, 'kind.json');
    await writeFile(wrongKind, JSON.stringify({ format: 'engram-tokenizer', version: 1, kind: 'bpe', fingerprint: 'x' }));
    await expect(loadTokenizer(wrongKind)).rejects.toThrow(/"kind"/);
    await expect(loadTokenizer(join(folder.path, 'absent.json'))).rejects.toBeInstanceOf(TokenizerFileError);
  });
});

describe('tokenizers over splits', () => {
  const text = `${train}${train.toUpperCase()}${'word '.repeat(50)}\nlast line without newline`;

  it('builds from the training split and encodes a split exactly like the whole text, whatever the chunk size', async () => {
    const path = join(folder.path, 'split.txt');
    await writeFile(path, text);
    const size = new TextEncoder().encode(text).length;
    const split = createSplit('train', [{ kind: 'file', path, start: 0, end: size }]);
    for (const chunkBytes of [16, 64, 1 << 20]) {
      const character = await buildTokenizer('character', split, { chunkBytes });
      expect(character.fingerprint).toBe(CharacterTokenizer.fromText(text).fingerprint);
      expect([...(await encodeSplit(character, split, { chunkBytes }))]).toEqual([...character.encode(text)]);
      const word = await buildTokenizer('word', split, { chunkBytes });
      expect(word.fingerprint).toBe(WordTokenizer.fromText(text).fingerprint);
      expect([...(await encodeSplit(word, split, { chunkBytes }))]).toEqual([...word.encode(text)]);
      const byte = await buildTokenizer('byte');
      expect([...(await encodeSplit(byte, split, { chunkBytes }))]).toEqual([...byte.encode(text)]);
    }
  });

  it('refuses invalid UTF-8 for character and word level, naming the file; bytes are fine', async () => {
    const path = join(folder.path, 'invalid.txt');
    await writeFile(path, new Uint8Array([0x61, 0x20, 0xff, 0x62, 0x0a]));
    const split = createSplit('train', [{ kind: 'file', path, start: 0, end: 5 }]);
    await expect(buildTokenizer('character', split)).rejects.toBeInstanceOf(InvalidUtf8Error);
    const error = await buildTokenizer('word', split).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidUtf8Error);
    expect((error as Error).message).toContain(path);
    await expect(encodeSplit(createCharacterTokenizer('ab'), split)).rejects.toBeInstanceOf(InvalidUtf8Error);
    expect([...(await encodeSplit(new ByteTokenizer(), split))]).toEqual([0x61, 0x20, 0xff, 0x62, 0x0a]);
  });
});
