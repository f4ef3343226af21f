// Corpus loading for the commands: prepare (download if needed), tokenize, and a prepared-token cache written by `engram data prepare`.
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_SUBWORD_VOCAB_SIZE, type AnyTokenizer, type PreparedCorpus, type SplitName, type TokenizerKind } from '@engram/datasets';
import { CORPUS_NAMES, encodeCorpus, loadTokenizer, prepareCorpus, resolveCacheDirectory, saveTokenizer, type CorpusName } from '@engram/datasets/node';
import type { DataSection } from './config/schema.js';
import { CliError, InputError } from './errors.js';
import {
  checkRegularFile,
  fileSystemError,
  naming,
  parseJsonFile,
  readTextFile,
  removeTemporaryLeftovers,
  replaceFolder,
  SMALL_FILE_BYTES,
  TOKENIZER_FILE_BYTES,
  writeFileAtomic,
} from './files.js';

/** Token streams of a corpus's three splits and the tokenizer that made them. */
export interface CorpusTokens {
  corpus: string;
  tokenizer: AnyTokenizer;
  train: Int32Array;
  valid: Int32Array;
  test: Int32Array;
  /** `prepared` when read from the cache of `engram data prepare`, `encoded` when tokenized now. */
  origin: 'prepared' | 'encoded';
}

/** Options for reaching a corpus. */
export interface CorpusAccess {
  /** Never download: fail when the corpus is not in the cache yet. */
  offline?: boolean;
  /** Progress bar for downloads (default: only on a TTY). */
  progressBar?: boolean | 'auto';
  /** Download again even when cached. */
  force?: boolean;
}

const splits: readonly SplitName[] = ['train', 'valid', 'test'];

/** Largest single-file local corpus read (the token streams of 8 GiB of text would not fit anyway). */
const LOCAL_CORPUS_BYTES = 8 * 1024 ** 3;

function isCorpusName(name: string): name is CorpusName {
  return (CORPUS_NAMES as readonly string[]).includes(name);
}

/**
 * Prepares a corpus by name through @engram/datasets (downloading into the cache when needed).
 * Offline, every download location points at a folder that does not exist, so only a cached copy
 * can satisfy it and a missing corpus fails instead of being fetched.
 */
export async function openCorpus(data: DataSection, access: CorpusAccess = {}): Promise<PreparedCorpus> {
  if (!isCorpusName(data.corpus)) {
    throw new CliError(`unknown corpus "${data.corpus}": use one of ${CORPUS_NAMES.join(', ')}`, { exitCode: 2 });
  }
  const common = {
    ...(data.cacheDirectory === undefined ? {} : { cacheDirectory: data.cacheDirectory }),
    progressBar: access.progressBar ?? ('auto' as const),
    ...(access.force === undefined ? {} : { force: access.force }),
  };
  const nowhere = join(resolveCacheDirectory(data.cacheDirectory), '.offline-no-download');
  const offline = access.offline === true ? { baseUrl: nowhere } : {};
  try {
    switch (data.corpus) {
      case 'moby-dick':
        return await prepareCorpus('moby-dick');
      case 'local': {
        if (data.path === undefined) throw new CliError('data.path is required for corpus "local"', { exitCode: 2 });
        const info = await stat(data.path).catch((error: unknown) => {
          throw fileSystemError(error, data.path as string, 'read the local corpus (--path)');
        });
        if (!info.isDirectory()) await checkRegularFile(data.path, { maxBytes: LOCAL_CORPUS_BYTES, what: 'the local corpus (--path)' });
        return await prepareCorpus('local', { path: data.path });
      }
      case 'pg19':
        return await prepareCorpus('pg19', { ...common, ...offline, ...(access.offline === true ? { listingUrl: nowhere } : {}) });
      default:
        return await prepareCorpus(data.corpus, { ...common, ...offline });
    }
  } catch (error) {
    if (access.offline === true && data.corpus !== 'moby-dick' && data.corpus !== 'local') {
      throw new CliError(
        `corpus ${data.corpus} is not (completely) in the cache ${resolveCacheDirectory(data.cacheDirectory)}: run "engram data download ${data.corpus}" first`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The tokenizer kind `data.tokenizer` asks for (a `.json` path is a subword tokenizer), or undefined for the corpus default. */
export function requestedKind(data: DataSection): TokenizerKind | undefined {
  if (data.tokenizer === undefined) return undefined;
  return isTokenizerFile(data.tokenizer) ? 'subword' : (data.tokenizer as TokenizerKind);
}

function isTokenizerFile(tokenizer: string): boolean {
  return /\.json$/i.test(tokenizer);
}

/** What `encodeCorpus` gets for a kind: the kind itself, or the tokenizer.json named by `data.tokenizer`. */
async function tokenizerFor(data: DataSection, kind: TokenizerKind): Promise<AnyTokenizer | TokenizerKind> {
  if (kind === 'subword' && data.tokenizer !== undefined && isTokenizerFile(data.tokenizer)) return loadTokenizer(resolve(data.tokenizer));
  return kind;
}

function encodeOptions(data: DataSection): { subwordVocabSize?: number } {
  return data.subwordVocabSize === undefined ? {} : { subwordVocabSize: data.subwordVocabSize };
}

/**
 * Folder of the prepared tokens of a corpus and tokenizer kind. Subword folders are named by
 * vocabulary size (`subword-8192`), or by a hash of the tokenizer.json path given as `data.tokenizer`.
 */
export function preparedDirectory(data: DataSection, tokenizer: TokenizerKind): string {
  const name = data.corpus === 'local' ? `local-${hashText(data.path ?? '')}` : data.corpus;
  let label: string = tokenizer;
  if (tokenizer === 'subword') {
    label =
      data.tokenizer !== undefined && isTokenizerFile(data.tokenizer)
        ? `subword-file-${hashText(resolve(data.tokenizer))}`
        : `subword-${data.subwordVocabSize ?? DEFAULT_SUBWORD_VOCAB_SIZE}`;
  }
  return join(resolveCacheDirectory(data.cacheDirectory), 'prepared', `${name}-${label}`);
}

function hashText(text: string): string {
  let hash = 2166136261;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 16777619);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

interface PreparedMeta {
  format: 'engram-prepared-tokens';
  formatVersion: 1;
  corpus: string;
  tokenizer: TokenizerKind;
  fingerprint: string;
  lengths: Record<SplitName, number>;
}

/** Tokenizes a corpus and writes `tokenizer.json`, `<split>.i32` (little-endian int32) and `meta.json` atomically. */
export async function prepareTokens(data: DataSection, access: CorpusAccess = {}): Promise<{ directory: string; tokens: CorpusTokens }> {
  const corpus = await openCorpus(data, access);
  const kind = requestedKind(data) ?? corpus.recommendedTokenizer;
  const encoded = await encodeCorpus(corpus, await tokenizerFor(data, kind), encodeOptions(data));
  const directory = preparedDirectory(data, kind);
  const meta: PreparedMeta = {
    format: 'engram-prepared-tokens',
    formatVersion: 1,
    corpus: corpus.name,
    tokenizer: kind,
    fingerprint: encoded.tokenizer.fingerprint,
    lengths: { train: encoded.train.length, valid: encoded.valid.length, test: encoded.test.length },
  };
  // The new cache is filled beside the old one and swapped in: the old one stays usable until then.
  await removeTemporaryLeftovers(dirname(directory));
  await naming(directory, 'write the prepared cache', () =>
    replaceFolder(directory, async (staging) => {
      await saveTokenizer(encoded.tokenizer, join(staging, 'tokenizer.json'));
      for (const split of splits) {
        const stream = encoded[split];
        await writeFileAtomic(join(staging, `${split}.i32`), new Uint8Array(stream.buffer, stream.byteOffset, stream.byteLength));
      }
      await writeFileAtomic(join(staging, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    }),
  );
  return { directory, tokens: { corpus: corpus.name, ...encoded, origin: 'encoded' } };
}

/**
 * The prepared tokens in `directory`, or null when there are none (no meta.json, or another format
 * version). Damaged files are refused naming the file and the fix.
 */
async function readPrepared(directory: string): Promise<CorpusTokens | null> {
  const metaPath = join(directory, 'meta.json');
  const fix = `run "engram data prepare" again (it replaces ${directory})`;
  if ((await stat(metaPath).catch(() => null)) === null) return null;
  const raw = parseJsonFile(await readTextFile(metaPath, { maxBytes: SMALL_FILE_BYTES, what: 'the prepared cache meta.json' }), metaPath, fix);
  const meta = raw as Partial<PreparedMeta> | null;
  if (meta === null || typeof meta !== 'object' || meta.format !== 'engram-prepared-tokens') {
    throw new InputError(metaPath, `${metaPath} is not the meta.json of a prepared cache: ${fix}`);
  }
  if (meta.formatVersion !== 1) return null;
  if (typeof meta.fingerprint !== 'string' || typeof meta.lengths !== 'object' || meta.lengths === null) {
    throw new InputError(metaPath, `${metaPath} lacks its fingerprint or lengths: ${fix}`);
  }
  const tokenizerPath = join(directory, 'tokenizer.json');
  await checkRegularFile(tokenizerPath, { maxBytes: TOKENIZER_FILE_BYTES, what: 'the prepared tokenizer' });
  const tokenizer = await loadTokenizer(tokenizerPath, { expectedFingerprint: meta.fingerprint });
  const streams = {} as Record<SplitName, Int32Array>;
  for (const split of splits) {
    const file = join(directory, `${split}.i32`);
    const expected = (meta.lengths[split] ?? Number.NaN) * 4;
    // The size is compared with meta.json before a byte is read: that is this reader's limit.
    const size = await checkRegularFile(file, { maxBytes: Number.MAX_SAFE_INTEGER, what: `prepared ${split} tokens` });
    if (size !== expected) {
      throw new InputError(directory, `prepared tokens in ${directory} are damaged (${split}.i32 has ${size} bytes, expected ${expected}): ${fix}`);
    }
    const bytes = await readFile(file);
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    streams[split] = new Int32Array(copy.buffer);
  }
  return { corpus: meta.corpus ?? 'unknown', tokenizer, ...streams, origin: 'prepared' };
}

/**
 * Token streams of the configured corpus: the prepared cache when `engram data prepare` made one,
 * else tokenized now. With `tokenizer`, that tokenizer is used (a trained model's own), so ids match.
 */
export async function loadCorpusTokens(
  data: DataSection,
  options: CorpusAccess & { tokenizer?: AnyTokenizer } = {},
): Promise<CorpusTokens> {
  const wanted = options.tokenizer?.kind ?? requestedKind(data);
  if (wanted !== undefined) {
    const prepared = await readPrepared(preparedDirectory(data, wanted));
    if (prepared !== null && (options.tokenizer === undefined || prepared.tokenizer.fingerprint === options.tokenizer.fingerprint)) {
      return prepared;
    }
  }
  const corpus = await openCorpus(data, options);
  const kind = wanted ?? corpus.recommendedTokenizer;
  if (options.tokenizer === undefined) {
    const prepared = await readPrepared(preparedDirectory(data, kind));
    if (prepared !== null) return prepared;
  }
  const encoded = await encodeCorpus(corpus, options.tokenizer ?? (await tokenizerFor(data, kind)), encodeOptions(data));
  return { corpus: corpus.name, ...encoded, origin: 'encoded' };
}
