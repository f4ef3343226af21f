// `engram data`: list, download, verify and prepare (tokenize once, cache the token streams) the corpora of @engram/datasets.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SPLIT_NAMES, type SplitName } from '@engram/datasets';
import { readSplitBytes, resolveCacheDirectory } from '@engram/datasets/node';
import { dataSectionSchema, type DataSection } from '../config/schema.js';
import { openCorpus, prepareTokens } from '../data.js';
import { UsageError } from '../errors.js';
import { writeLine, type CommandIo } from '../io.js';

/** Corpora the command knows, with one line each. */
export const corpusDescriptions: Record<string, string> = {
  'moby-dick': 'Moby Dick (bundled with @engram/datasets, no download), ~1.2 MB, character level',
  enwik8: 'first 100 MB of an English Wikipedia XML dump, byte level (90M/5M/5M)',
  text8: 'the same Wikipedia text cleaned to a-z and space, 100 M characters',
  'wikitext-103': 'WikiText-103, word level with <unk> (Merity et al.)',
  'wikitext-103-raw': 'WikiText-103 raw text, for character or byte models',
  pg19: 'PG-19 books (Rae et al. 2019); large, use --max-books style subsets from code',
  local: 'your own text file or folder (--path), split 90/5/5 at line ends',
};

/** Corpus selection flags of the data subcommands. */
export interface DataCommandOptions {
  corpus: string;
  path?: string;
  tokenizer?: string;
  /** Vocabulary size of a trained subword tokenizer. */
  vocabSize?: number;
  cacheDir?: string;
  force?: boolean;
}

function dataSection(options: DataCommandOptions): DataSection {
  const parsed = dataSectionSchema.safeParse({
    corpus: options.corpus,
    ...(options.path === undefined ? {} : { path: options.path }),
    ...(options.tokenizer === undefined ? {} : { tokenizer: options.tokenizer }),
    ...(options.vocabSize === undefined ? {} : { subwordVocabSize: options.vocabSize }),
    ...(options.cacheDir === undefined ? {} : { cacheDirectory: options.cacheDir }),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? 'corpus';
    if (field === 'corpus') {
      throw new UsageError(`unknown corpus "${options.corpus}": use one of ${Object.keys(corpusDescriptions).join(', ')}`);
    }
    if (field === 'tokenizer') {
      throw new UsageError(`--tokenizer must be byte, character, word, subword or a tokenizer.json path, got "${String(options.tokenizer)}"`);
    }
    if (field === 'subwordVocabSize') {
      throw new UsageError(`--vocab-size must be an integer of at least 256 (the byte tokens), got ${String(options.vocabSize)}`);
    }
    throw new UsageError(field === 'path' ? '--path is required for corpus local' : `${field}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

/** `engram data list`: every corpus, whether it is cached and whether prepared tokens exist. */
export function dataListCommand(options: { cacheDir?: string }, io: CommandIo): void {
  const cache = resolveCacheDirectory(options.cacheDir);
  writeLine(io.stdout, `cache: ${cache}`);
  for (const [name, description] of Object.entries(corpusDescriptions)) {
    const downloaded = name === 'moby-dick' ? 'bundled' : name === 'local' ? '' : existsSync(join(cache, name)) ? 'in cache' : '';
    const preparedRoot = join(cache, 'prepared');
    const prepared = (existsSync(preparedRoot) ? readdirSync(preparedRoot) : [])
      .filter((entry) => entry.startsWith(`${name}-`) && existsSync(join(preparedRoot, entry, 'meta.json')))
      // `wikitext-103-raw-byte` belongs to wikitext-103-raw, not wikitext-103.
      .filter((entry) => !Object.keys(corpusDescriptions).some((other) => other.length > name.length && entry.startsWith(`${other}-`)))
      .map((entry) => entry.slice(name.length + 1))
      .sort();
    const status = [downloaded, prepared.length > 0 ? `prepared: ${prepared.join(', ')}` : ''].filter(Boolean).join('; ');
    writeLine(io.stdout, `${name.padEnd(17)} ${description}${status === '' ? '' : ` [${status}]`}`);
  }
}

/** `engram data download`: fetches (or finds in the cache) a corpus and checks it; prints the split sizes. */
export async function dataDownloadCommand(options: DataCommandOptions, io: CommandIo): Promise<Record<SplitName, number>> {
  const corpus = await openCorpus(dataSection(options), { ...(options.force === undefined ? {} : { force: options.force }) });
  const sizes = Object.fromEntries(SPLIT_NAMES.map((split) => [split, corpus.splits[split].byteLength])) as Record<SplitName, number>;
  writeLine(io.stdout, `${corpus.name}: ${corpus.title} (${corpus.license}) from ${corpus.origin}`);
  for (const split of SPLIT_NAMES) writeLine(io.stdout, `  ${split.padEnd(5)} ${formatBytes(sizes[split])}`);
  return sizes;
}

/** What `engram data verify` found for one split. */
export interface SplitCheck {
  split: SplitName;
  bytes: number;
  sha256: string;
}

/**
 * `engram data verify`: uses only the cache (never downloads). The corpus loader checks sizes (and the
 * zip members' CRC-32 on extraction); then every split is read in full and hashed, proving it is present
 * and readable. Prints one line per split with its SHA-256, so two machines can compare their copies.
 */
export async function dataVerifyCommand(options: DataCommandOptions, io: CommandIo): Promise<SplitCheck[]> {
  const corpus = await openCorpus(dataSection(options), { offline: true });
  const checks: SplitCheck[] = [];
  for (const split of SPLIT_NAMES) {
    const bytes = await readSplitBytes(corpus.splits[split]);
    if (bytes.length !== corpus.splits[split].byteLength) {
      throw new UsageError(
        `${corpus.name} ${split}: read ${bytes.length} bytes, expected ${corpus.splits[split].byteLength}: run engram data download ${corpus.name} --force`,
      );
    }
    checks.push({ split, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  writeLine(io.stdout, `${corpus.name}: ok`);
  for (const check of checks) writeLine(io.stdout, `  ${check.split.padEnd(5)} ${formatBytes(check.bytes).padStart(10)}  sha256 ${check.sha256}`);
  return checks;
}

/** `engram data prepare`: tokenizes a corpus once and caches the token streams that train/eval then read. */
export async function dataPrepareCommand(options: DataCommandOptions, io: CommandIo): Promise<string> {
  const data = dataSection(options);
  const { directory, tokens } = await prepareTokens(data, { ...(options.force === undefined ? {} : { force: options.force }) });
  writeLine(
    io.stdout,
    `${tokens.corpus}: ${tokens.tokenizer.kind} tokenizer, ${tokens.tokenizer.vocabSize} tokens; ` +
      `train ${tokens.train.length.toLocaleString('en-US')}, valid ${tokens.valid.length.toLocaleString('en-US')}, ` +
      `test ${tokens.test.length.toLocaleString('en-US')} tokens -> ${directory}`,
  );
  return directory;
}
