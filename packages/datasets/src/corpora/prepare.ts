// One entry point for every corpus by name, and encoding a prepared corpus into token streams with a tokenizer built from its training split.
import { InvalidArgumentError } from '../errors.js';
import { buildTokenizer, encodeSplit, type BuildTokenizerOptions } from '../tokenizers/corpus.js';
import type { AnyTokenizer } from '../tokenizers/document.js';
import type { TokenizerKind } from '../tokenizers/types.js';
import { prepareBundledBook } from './bundled-book.js';
import { prepareEnwik8, prepareText8, type HutterCorpusOptions } from './hutter.js';
import { prepareLocalCorpus, type LocalCorpusOptions } from './local.js';
import { preparePg19, type Pg19Options } from './pg19.js';
import { SPLIT_NAMES, type SplitName } from './split.js';
import type { PreparedCorpus } from './types.js';
import { prepareWikiText103, type WikiTextOptions } from './wikitext.js';

/** Corpora known by name. */
export const CORPUS_NAMES = ['moby-dick', 'enwik8', 'text8', 'wikitext-103', 'wikitext-103-raw', 'pg19', 'local'] as const;
/** A corpus name. */
export type CorpusName = (typeof CORPUS_NAMES)[number];

/** Prepares a corpus by name (downloading into the cache when needed). */
export function prepareCorpus(name: 'moby-dick'): Promise<PreparedCorpus>;
export function prepareCorpus(name: 'enwik8' | 'text8', options?: HutterCorpusOptions): Promise<PreparedCorpus>;
export function prepareCorpus(name: 'wikitext-103' | 'wikitext-103-raw', options?: Omit<WikiTextOptions, 'variant'>): Promise<PreparedCorpus>;
export function prepareCorpus(name: 'pg19', options?: Pg19Options): Promise<PreparedCorpus>;
export function prepareCorpus(name: 'local', options: LocalCorpusOptions): Promise<PreparedCorpus>;
export function prepareCorpus(name: CorpusName, options?: HutterCorpusOptions | WikiTextOptions | Pg19Options | LocalCorpusOptions): Promise<PreparedCorpus>;
export async function prepareCorpus(name: CorpusName, options: object = {}): Promise<PreparedCorpus> {
  switch (name) {
    case 'moby-dick':
      return prepareBundledBook();
    case 'enwik8':
      return prepareEnwik8(options as HutterCorpusOptions);
    case 'text8':
      return prepareText8(options as HutterCorpusOptions);
    case 'wikitext-103':
      return prepareWikiText103({ ...(options as WikiTextOptions), variant: 'tokens' });
    case 'wikitext-103-raw':
      return prepareWikiText103({ ...(options as WikiTextOptions), variant: 'raw' });
    case 'pg19':
      return preparePg19(options as Pg19Options);
    case 'local': {
      const local = options as Partial<LocalCorpusOptions>;
      if (typeof local.path !== 'string') throw new InvalidArgumentError('options.path', 'the path of a local text file or folder', local.path);
      return prepareLocalCorpus(local as LocalCorpusOptions);
    }
    default:
      throw new InvalidArgumentError('name', `one of ${CORPUS_NAMES.join(', ')}`, name);
  }
}

/** Token streams of the three splits and the tokenizer that made them. */
export interface EncodedCorpus {
  tokenizer: AnyTokenizer;
  train: Int32Array;
  valid: Int32Array;
  test: Int32Array;
}

/**
 * Encodes every split. Pass a tokenizer (e.g. one loaded next to a checkpoint) or a kind, in
 * which case the vocabulary is built from the training split only.
 */
export async function encodeCorpus(
  corpus: PreparedCorpus,
  tokenizer: AnyTokenizer | TokenizerKind = corpus.recommendedTokenizer,
  options: BuildTokenizerOptions & { onProgress?: (split: SplitName, readBytes: number, totalBytes: number) => void } = {},
): Promise<EncodedCorpus> {
  const resolved = typeof tokenizer === 'string' ? await buildTokenizer(tokenizer, corpus.splits.train, options) : tokenizer;
  const streams = {} as Record<SplitName, Int32Array>;
  for (const split of SPLIT_NAMES) {
    const onProgress = options.onProgress;
    streams[split] = await encodeSplit(resolved, corpus.splits[split], {
      ...(options.chunkBytes === undefined ? {} : { chunkBytes: options.chunkBytes }),
      ...(onProgress === undefined ? {} : { onProgress: (read: number, total: number) => onProgress(split, read, total) }),
    });
  }
  return { tokenizer: resolved, train: streams.train, valid: streams.valid, test: streams.test };
}
