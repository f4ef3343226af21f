// Tokenizers over whole corpus splits: build a vocabulary from the training split and encode a split into one Int32Array token stream, reading in chunks.
import { InvalidArgumentError } from '../errors.js';
import { readSplitByteChunks, readSplitTextChunks, type CorpusSplit } from '../corpora/split.js';
import { ByteTokenizer } from './byte.js';
import { CharacterVocabularyBuilder, type CharacterTokenizer } from './character.js';
import type { AnyTokenizer } from './document.js';
import { lastSafeCut, SubwordVocabularyBuilder, type SubwordTokenizer } from './subword.js';
import type { Tokenizer, TokenizerKind } from './types.js';
import { WordVocabularyBuilder, type WordTokenizer, type WordVocabularyOptions } from './word.js';

/** Options of {@link buildTokenizer}. */
export interface BuildTokenizerOptions extends WordVocabularyOptions {
  /** Bytes read at a time (default 8 MiB). */
  chunkBytes?: number;
  /** Subword tokenizer: vocabulary size of the trained byte-level BPE (default 8192, at least 256). */
  subwordVocabSize?: number;
}

/**
 * A tokenizer of the given kind whose vocabulary comes from `trainingSplit` (the byte
 * tokenizer needs no data; `subword` trains byte-level BPE). Invalid UTF-8 in the split raises
 * InvalidUtf8Error for character, word and subword level.
 */
export async function buildTokenizer(kind: 'byte', trainingSplit?: CorpusSplit, options?: BuildTokenizerOptions): Promise<ByteTokenizer>;
export async function buildTokenizer(kind: 'character', trainingSplit: CorpusSplit, options?: BuildTokenizerOptions): Promise<CharacterTokenizer>;
export async function buildTokenizer(kind: 'word', trainingSplit: CorpusSplit, options?: BuildTokenizerOptions): Promise<WordTokenizer>;
export async function buildTokenizer(kind: 'subword', trainingSplit: CorpusSplit, options?: BuildTokenizerOptions): Promise<SubwordTokenizer>;
export async function buildTokenizer(kind: TokenizerKind, trainingSplit?: CorpusSplit, options?: BuildTokenizerOptions): Promise<AnyTokenizer>;
export async function buildTokenizer(kind: TokenizerKind, trainingSplit?: CorpusSplit, options: BuildTokenizerOptions = {}): Promise<AnyTokenizer> {
  if (kind === 'byte') return new ByteTokenizer();
  if (trainingSplit === undefined) {
    throw new InvalidArgumentError('trainingSplit', `a corpus split to build the ${kind} vocabulary from`, undefined);
  }
  if (kind === 'character') {
    const builder = new CharacterVocabularyBuilder();
    for await (const chunk of readSplitTextChunks(trainingSplit, options.chunkBytes)) builder.add(chunk.text);
    return builder.build();
  }
  if (kind === 'word') {
    const builder = new WordVocabularyBuilder();
    for await (const chunk of readSplitTextChunks(trainingSplit, options.chunkBytes)) builder.add(chunk.text);
    return builder.build(options);
  }
  if (kind === 'subword') {
    const builder = new SubwordVocabularyBuilder();
    for await (const chunk of readSplitTextChunks(trainingSplit, options.chunkBytes)) {
      builder.add(chunk.text);
      if (chunk.endOfPart) builder.endDocument();
    }
    return builder.build(options.subwordVocabSize === undefined ? {} : { vocabSize: options.subwordVocabSize });
  }
  throw new InvalidArgumentError('kind', '"byte", "character", "word" or "subword"', kind);
}

/** Options of {@link encodeSplit}. */
export interface EncodeSplitOptions {
  chunkBytes?: number;
  /** Called after each chunk with the bytes read so far and the split's size. */
  onProgress?: (readBytes: number, totalBytes: number) => void;
}

/**
 * The token stream of a split: its parts encoded one after another (a part is a document,
 * e.g. one PG-19 book; for word level its last line gets `<eos>` even without a final newline).
 * Subword text is encoded in pieces cut only where the byte-level pattern always splits
 * (see lastSafeCut), so the result equals encoding each part whole.
 */
export async function encodeSplit(tokenizer: Tokenizer, split: CorpusSplit, options: EncodeSplitOptions = {}): Promise<Int32Array> {
  const sink = new GrowableInt32Array(tokenizer.kind === 'word' ? Math.max(16, split.byteLength >> 2) : Math.max(16, split.byteLength));
  let readBytes = 0;
  if (tokenizer instanceof ByteTokenizer || tokenizer.kind === 'byte') {
    for await (const chunk of readSplitByteChunks(split, options.chunkBytes)) {
      sink.appendBytes(chunk.bytes);
      readBytes += chunk.bytes.length;
      options.onProgress?.(readBytes, split.byteLength);
    }
    return sink.toArray();
  }
  let pendingLine = '';
  for await (const chunk of readSplitTextChunks(split, options.chunkBytes)) {
    readBytes += chunk.byteLength;
    if (tokenizer.kind === 'subword') {
      let text = pendingLine + chunk.text;
      pendingLine = '';
      if (!chunk.endOfPart) {
        const cut = lastSafeCut(text);
        pendingLine = cut < 0 ? text : text.slice(cut);
        text = cut < 0 ? '' : text.slice(0, cut);
      }
      if (text !== '') sink.append(tokenizer.encode(text));
    } else if (tokenizer.kind === 'word') {
      // Keep an unfinished line for the next chunk so `<eos>` lands only at real line ends.
      let text = pendingLine + chunk.text;
      pendingLine = '';
      if (!chunk.endOfPart) {
        const lastNewline = text.lastIndexOf('\n');
        pendingLine = text.slice(lastNewline + 1);
        text = text.slice(0, lastNewline + 1);
      }
      sink.append(tokenizer.encode(text));
    } else {
      sink.append(tokenizer.encode(chunk.text));
    }
    options.onProgress?.(readBytes, split.byteLength);
  }
  return sink.toArray();
}

class GrowableInt32Array {
  private buffer: Int32Array;
  private length = 0;

  constructor(initialCapacity: number) {
    this.buffer = new Int32Array(initialCapacity);
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + extra) capacity *= 2;
    const next = new Int32Array(capacity);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  append(values: Int32Array): void {
    this.reserve(values.length);
    this.buffer.set(values, this.length);
    this.length += values.length;
  }

  appendBytes(values: Uint8Array): void {
    this.reserve(values.length);
    this.buffer.set(values, this.length);
    this.length += values.length;
  }

  toArray(): Int32Array {
    return this.length === this.buffer.length ? this.buffer : this.buffer.slice(0, this.length);
  }
}
