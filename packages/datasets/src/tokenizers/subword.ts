// Subword tokenizers: byte-level BPE merges learned here (Sennrich et al. 2016, over GPT-2 byte-level pre-tokens), saved as Hugging Face tokenizer.json; encoding and decoding of any tokenizer.json by @huggingface/tokenizers.
import { ByteLevelPreTokenizer, Tokenizer as HuggingFaceTokenizer } from '@huggingface/tokenizers';
import { countWords } from '../corpora/parts.js';
import { InvalidArgumentError, TokenizerFileError } from '../errors.js';
import { tokenizerFingerprint } from './fingerprint.js';
import type { Tokenizer } from './types.js';
import { assertTokenId } from './validate.js';

/** A Hugging Face `tokenizer.json` document (only `model` is required here; the rest is read by @huggingface/tokenizers). */
export interface HuggingFaceTokenizerDocument {
  model: { type?: string; vocab?: unknown; merges?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

/** Options of {@link SubwordVocabularyBuilder.build}. */
export interface SubwordVocabularyOptions {
  /** Wanted vocabulary size: the 256 byte tokens plus the learned merges (default 8192, at least 256). Training stops earlier when no pair occurs twice. */
  vocabSize?: number;
  /** A pair is merged only if it occurs at least this often (default 2). */
  minimumPairCount?: number;
}

/** Default vocabulary size of a trained subword tokenizer. */
export const DEFAULT_SUBWORD_VOCAB_SIZE = 8192;

const byteLevelSettings = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true } as const;

/** The byte-level pre-tokenizer every trained tokenizer uses: GPT-2's split pattern, each byte shown as one printable character. */
function createByteLevelPreTokenizer(): ByteLevelPreTokenizer {
  return new ByteLevelPreTokenizer(byteLevelSettings as ConstructorParameters<typeof ByteLevelPreTokenizer>[0]);
}

const whitespace = /\s/;

/**
 * Where `text` can be cut so that encoding the two parts separately equals encoding it whole
 * with the byte-level pattern: the last place where whitespace follows a non-space character
 * (no pre-token holds a non-space character followed by whitespace, and the only lookahead,
 * after a whitespace run, stays inside the first part). Returns the index, or -1 when there is none.
 */
export function lastSafeCut(text: string): number {
  for (let index = text.length - 1; index > 0; index -= 1) {
    if (whitespace.test(text[index] as string) && !whitespace.test(text[index - 1] as string)) return index;
  }
  return -1;
}

/** Counts the byte-level pre-tokens of a text given in pieces, then learns BPE merges from them. */
export class SubwordVocabularyBuilder {
  private readonly preTokenizer = createByteLevelPreTokenizer();
  private readonly counts = new Map<string, number>();
  private pending = '';

  /** Adds a piece of training text. Pieces may be cut anywhere; the counts equal those of the joined text. */
  add(text: string): void {
    const joined = this.pending + text;
    const cut = lastSafeCut(joined);
    if (cut < 0) {
      this.pending = joined;
      return;
    }
    this.pending = joined.slice(cut);
    this.count(joined.slice(0, cut));
  }

  /** Ends a document: the text so far is counted, so no pre-token spans two documents. */
  endDocument(): void {
    this.count(this.pending);
    this.pending = '';
  }

  private count(text: string): void {
    if (text === '') return;
    for (const piece of this.preTokenizer.pre_tokenize_text(text)) this.counts.set(piece, (this.counts.get(piece) ?? 0) + 1);
  }

  /** Learns merges until the vocabulary has `vocabSize` tokens (or no pair is frequent enough) and returns the tokenizer. */
  build(options: SubwordVocabularyOptions = {}): SubwordTokenizer {
    const vocabSize = options.vocabSize ?? DEFAULT_SUBWORD_VOCAB_SIZE;
    const minimumPairCount = options.minimumPairCount ?? 2;
    if (!Number.isInteger(vocabSize) || vocabSize < 256) {
      throw new InvalidArgumentError('vocabSize', 'an integer of at least 256 (the byte tokens)', vocabSize);
    }
    if (!Number.isInteger(minimumPairCount) || minimumPairCount < 1) {
      throw new InvalidArgumentError('minimumPairCount', 'a positive integer', minimumPairCount);
    }
    this.endDocument();
    const { tokens, merges } = learnMerges(this.counts, vocabSize, minimumPairCount);
    return SubwordTokenizer.fromHuggingFace(byteLevelBpeDocument(tokens, merges), 'trained subword vocabulary');
  }
}

/** The 256 byte tokens in byte order, as the byte-level pre-tokenizer writes them. */
function byteTokens(): string[] {
  const encoder = createByteLevelPreTokenizer().byte_encoder;
  return Array.from({ length: 256 }, (_unused, byte) => encoder[byte] as string);
}

/**
 * BPE training: start from single bytes, repeatedly merge the most frequent adjacent pair
 * (ties: smaller left id, then smaller right id), counting each pre-token once per occurrence.
 * Pair counts are kept up to date incrementally; a lazy max-heap finds the next pair.
 */
function learnMerges(preTokenCounts: Map<string, number>, vocabSize: number, minimumPairCount: number): { tokens: string[]; merges: [string, string][] } {
  const tokens = byteTokens();
  const idOf = new Map(tokens.map((token, id) => [token, id]));
  const words: { symbols: number[]; count: number }[] = [];
  for (const [piece, count] of preTokenCounts) {
    words.push({ symbols: Array.from(piece, (character) => idOf.get(character) as number), count });
  }
  const stride = 1 << 21;
  const keyOf = (left: number, right: number) => left * stride + right;
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const adjust = (word: number, sign: 1 | -1, changed: Set<number>) => {
    const { symbols, count } = words[word] as { symbols: number[]; count: number };
    for (let index = 0; index + 1 < symbols.length; index += 1) {
      const key = keyOf(symbols[index] as number, symbols[index + 1] as number);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * count);
      if (sign > 0) {
        let holders = pairWords.get(key);
        if (holders === undefined) pairWords.set(key, (holders = new Set()));
        holders.add(word);
      }
      changed.add(key);
    }
  };
  const heap = new PairHeap();
  const initial = new Set<number>();
  for (let word = 0; word < words.length; word += 1) adjust(word, 1, initial);
  for (const key of initial) heap.push(pairCounts.get(key) as number, key);

  const merges: [string, string][] = [];
  while (tokens.length < vocabSize) {
    let best: { count: number; key: number } | undefined;
    while ((best = heap.pop()) !== undefined && pairCounts.get(best.key) !== best.count);
    if (best === undefined || best.count < minimumPairCount) break;
    const left = Math.floor(best.key / stride);
    const right = best.key % stride;
    const merged = tokens.length;
    tokens.push((tokens[left] as string) + (tokens[right] as string));
    merges.push([tokens[left] as string, tokens[right] as string]);
    const changed = new Set<number>();
    for (const word of pairWords.get(best.key) ?? []) {
      const entry = words[word] as { symbols: number[]; count: number };
      adjust(word, -1, changed);
      const next: number[] = [];
      for (let index = 0; index < entry.symbols.length; index += 1) {
        if (entry.symbols[index] === left && entry.symbols[index + 1] === right) {
          next.push(merged);
          index += 1;
        } else next.push(entry.symbols[index] as number);
      }
      entry.symbols = next;
      adjust(word, 1, changed);
    }
    pairWords.delete(best.key);
    pairCounts.delete(best.key);
    changed.delete(best.key);
    for (const key of changed) {
      const count = pairCounts.get(key) as number;
      if (count > 0) heap.push(count, key);
      else pairCounts.delete(key);
    }
  }
  return { tokens, merges };
}

/** Max-heap of (count, pair key): larger count first, then smaller key. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly keys: number[] = [];

  private before(a: number, b: number): boolean {
    const countA = this.counts[a] as number;
    const countB = this.counts[b] as number;
    return countA > countB || (countA === countB && (this.keys[a] as number) < (this.keys[b] as number));
  }

  private swap(a: number, b: number): void {
    [this.counts[a], this.counts[b]] = [this.counts[b] as number, this.counts[a] as number];
    [this.keys[a], this.keys[b]] = [this.keys[b] as number, this.keys[a] as number];
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    for (let index = this.counts.length - 1; index > 0; ) {
      const parent = (index - 1) >> 1;
      if (!this.before(index, parent)) break;
      this.swap(index, parent);
      index = parent;
    }
  }

  pop(): { count: number; key: number } | undefined {
    if (this.counts.length === 0) return undefined;
    const top = { count: this.counts[0] as number, key: this.keys[0] as number };
    const lastCount = this.counts.pop() as number;
    const lastKey = this.keys.pop() as number;
    if (this.counts.length > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      for (let index = 0; ; ) {
        const leftChild = 2 * index + 1;
        const rightChild = leftChild + 1;
        let first = index;
        if (leftChild < this.counts.length && this.before(leftChild, first)) first = leftChild;
        if (rightChild < this.counts.length && this.before(rightChild, first)) first = rightChild;
        if (first === index) break;
        this.swap(index, first);
        index = first;
      }
    }
    return top;
  }
}

/** A tokenizer.json for byte-level BPE with the given tokens (ids in order) and merges, readable by Hugging Face tokenizers (Rust, Python, JS). */
function byteLevelBpeDocument(tokens: readonly string[], merges: readonly [string, string][]): HuggingFaceTokenizerDocument {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { ...byteLevelSettings },
    post_processor: null,
    decoder: { ...byteLevelSettings },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(tokens.map((token, id) => [token, id])),
      merges: merges.map(([left, right]) => [left, right]),
    },
  };
}

/** JSON with object keys sorted at every level, so equal documents give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** True when a parsed JSON document looks like a Hugging Face tokenizer.json (an object with a `model` object). */
export function isHuggingFaceTokenizerDocument(document: unknown): document is HuggingFaceTokenizerDocument {
  return typeof document === 'object' && document !== null && typeof (document as { model?: unknown }).model === 'object' && (document as { model?: unknown }).model !== null;
}

/**
 * A subword tokenizer defined by a Hugging Face `tokenizer.json` (BPE, Unigram or WordPiece;
 * trained here with {@link SubwordVocabularyBuilder} or made by any Hugging Face tool).
 * Text is encoded without special tokens. Decoding is exact for byte-level BPE; other models
 * lose what their normaliser or pre-tokenizer drops. `countWords` counts the whitespace-separated
 * words of the original text, so word-level perplexity does not depend on the vocabulary (SPEC 7).
 */
export class SubwordTokenizer implements Tokenizer {
  readonly kind = 'subword' as const;
  readonly vocabSize: number;
  readonly fingerprint: string;
  /** The model type of the tokenizer.json, e.g. `BPE` or `Unigram`. */
  readonly model: string;
  private readonly document: HuggingFaceTokenizerDocument;
  private readonly tokenizer: HuggingFaceTokenizer;

  private constructor(document: HuggingFaceTokenizerDocument, tokenizer: HuggingFaceTokenizer) {
    this.document = document;
    this.tokenizer = tokenizer;
    this.model = String(document.model.type ?? 'unknown');
    let largest = -1;
    for (const id of tokenizer.get_vocab(true).values()) largest = Math.max(largest, id);
    this.vocabSize = largest + 1;
    this.fingerprint = tokenizerFingerprint('subword', null, { tokenizerJson: canonicalJson(document) });
  }

  /** Reads a parsed tokenizer.json; `source` names it in errors. */
  static fromHuggingFace(document: unknown, source = 'tokenizer.json'): SubwordTokenizer {
    if (!isHuggingFaceTokenizerDocument(document)) throw new TokenizerFileError(source, 'it has no "model" object, so it is not a Hugging Face tokenizer.json');
    let tokenizer: HuggingFaceTokenizer;
    try {
      tokenizer = new HuggingFaceTokenizer(document, {});
    } catch (error) {
      throw new TokenizerFileError(source, `@huggingface/tokenizers cannot read it (${error instanceof Error ? error.message : String(error)})`, { cause: error });
    }
    const copy = JSON.parse(JSON.stringify(document)) as HuggingFaceTokenizerDocument;
    const result = new SubwordTokenizer(copy, tokenizer);
    if (result.vocabSize <= 0) throw new TokenizerFileError(source, 'its vocabulary is empty');
    return result;
  }

  /** Trains byte-level BPE on one text (see {@link SubwordVocabularyBuilder} for text given in pieces). */
  static train(trainingText: string, options: SubwordVocabularyOptions = {}): SubwordTokenizer {
    const builder = new SubwordVocabularyBuilder();
    builder.add(trainingText);
    return builder.build(options);
  }

  encode(text: string): Int32Array {
    return Int32Array.from(this.tokenizer.encode(text, { add_special_tokens: false }).ids);
  }

  decode(ids: ArrayLike<number>): string {
    const list = new Array<number>(ids.length);
    for (let index = 0; index < ids.length; index += 1) {
      const id = ids[index] as number;
      assertTokenId(id, this.vocabSize, index);
      list[index] = id;
    }
    return this.tokenizer.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  countWords(text: string): number {
    return countWords(text);
  }

  /** The vocabulary entry of an id as stored (byte-level tokens show a space as `Ġ`). */
  tokenName(id: number): string {
    assertTokenId(id, this.vocabSize, 0);
    return this.tokenizer.id_to_token(id) ?? `<id ${id}>`;
  }

  /** The tokenizer.json document (a copy): what {@link saveTokenizer} writes, loadable by Hugging Face tokenizers. */
  toDocument(): HuggingFaceTokenizerDocument {
    return JSON.parse(JSON.stringify(this.document)) as HuggingFaceTokenizerDocument;
  }
}

/** Trains a byte-level BPE tokenizer on a text. */
export function createSubwordTokenizer(trainingText: string, options: SubwordVocabularyOptions = {}): SubwordTokenizer {
  return SubwordTokenizer.train(trainingText, options);
}
