// Local text corpora: one file, or a folder of files (with train/valid/test entries, or split 90/5/5 by bytes at line ends).
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { EmptyCorpusError, MissingSplitError, SourceNotFoundError } from '../errors.js';
import { readFileWindow } from '../io/files.js';
import { DEFAULT_SPLIT_FRACTIONS, splitByFractions, type SplittableDocument } from './fractions.js';
import { SPLIT_NAMES, createSplit, type CorpusPart, type CorpusSplit, type SplitName } from './split.js';
import type { PreparedCorpus } from './types.js';
import type { TokenizerKind } from '../tokenizers/types.js';

/** Options of {@link prepareLocalCorpus}. */
export interface LocalCorpusOptions {
  /** A text file, or a folder (see {@link prepareLocalCorpus}). */
  path: string;
  /** Fractions of bytes for train/valid/test when the source has no split entries (default [0.9, 0.05, 0.05]). */
  splitFractions?: readonly [number, number, number];
  /** Tokenizer to recommend (default `character`). */
  recommendedTokenizer?: TokenizerKind;
}

const SPLIT_ALIASES: Readonly<Record<string, SplitName>> = { train: 'train', valid: 'valid', validation: 'valid', test: 'test' };

/** Files of a folder, recursively, in path order, skipping hidden entries. */
async function listFiles(folder: string): Promise<string[]> {
  const files: string[] = [];
  const entries = await readdir(folder, { withFileTypes: true });
  entries.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

async function wholeFileParts(paths: readonly string[]): Promise<CorpusPart[]> {
  const parts: CorpusPart[] = [];
  for (const path of paths) {
    const size = (await stat(path)).size;
    if (size > 0) parts.push({ kind: 'file', path, start: 0, end: size });
  }
  return parts;
}

/**
 * A corpus from local text.
 * - A file: split by `splitFractions` of its bytes, each cut moved to the next line end.
 * - A folder with entries named `train`, `valid` (or `validation`) and `test` (files with
 *   any extension, e.g. `train.txt`, or subfolders of files): those are the splits.
 *   Having some but not all of them raises MissingSplitError.
 * - Any other folder: all its files (recursively, in path order, hidden ones skipped) form
 *   one stream, split by `splitFractions` at line ends.
 * Empty files and splits raise EmptyCorpusError.
 */
export async function prepareLocalCorpus(options: LocalCorpusOptions): Promise<PreparedCorpus> {
  const root = resolve(options.path);
  let info;
  try {
    info = await stat(root);
  } catch {
    throw new SourceNotFoundError(root, 'The local corpus');
  }
  const fractions = options.splitFractions ?? DEFAULT_SPLIT_FRACTIONS;
  let partsBySplit: Record<SplitName, CorpusPart[]>;
  let splitRule: string;
  if (info.isFile()) {
    if (info.size === 0) throw new EmptyCorpusError(root, 'The corpus file', 'Give a file with text in it.');
    partsBySplit = await splitByFractions([{ kind: 'file', path: root, size: info.size }], fractions, readFileWindow);
    splitRule = `bytes split ${fractions.join(' / ')} with each cut moved to the next line end`;
  } else {
    const entries = (await readdir(root, { withFileTypes: true })).filter((entry) => !entry.name.startsWith('.'));
    const named = new Map<SplitName, string[]>();
    for (const entry of entries) {
      const stem = basename(entry.name, extname(entry.name)).toLowerCase();
      const split = SPLIT_ALIASES[stem];
      if (split === undefined) continue;
      const path = join(root, entry.name);
      const list = named.get(split) ?? [];
      if (entry.isDirectory()) list.push(...(await listFiles(path)));
      else if (entry.isFile()) list.push(path);
      named.set(split, list);
    }
    if (named.size > 0) {
      partsBySplit = { train: [], valid: [], test: [] };
      for (const split of SPLIT_NAMES) {
        const files = named.get(split);
        if (files === undefined) {
          throw new MissingSplitError(
            root,
            split,
            `an entry named ${split === 'valid' ? '"valid" or "validation"' : `"${split}"`} (a file such as ${split}.txt, or a folder)`,
            'Add the missing split, or remove the split entries so the files are split 90/5/5 automatically.',
          );
        }
        partsBySplit[split] = await wholeFileParts(files);
        if (partsBySplit[split].length === 0) {
          throw new EmptyCorpusError(files[0] ?? join(root, split), `The ${split} split file`, 'Put text in it.');
        }
      }
      splitRule = 'the train / valid (or validation) / test entries of the folder';
    } else {
      const files = await listFiles(root);
      const documents: SplittableDocument[] = [];
      for (const path of files) {
        const size = (await stat(path)).size;
        if (size > 0) documents.push({ kind: 'file', path, size });
      }
      if (documents.length === 0) throw new EmptyCorpusError(root, 'The corpus folder', 'Put text files in it.');
      partsBySplit = await splitByFractions(documents, fractions, readFileWindow);
      splitRule = `all files in path order, bytes split ${fractions.join(' / ')} with each cut moved to the next line end`;
    }
  }
  const splits = {} as Record<SplitName, CorpusSplit>;
  for (const split of SPLIT_NAMES) {
    splits[split] = createSplit(split, partsBySplit[split]);
    if (splits[split].byteLength === 0) {
      throw new EmptyCorpusError(root, `The ${split} split of the local corpus`, 'Use a larger text (it needs several lines), other splitFractions, or explicit train/valid/test files.');
    }
  }
  return {
    name: 'local',
    title: `Local text ${root}`,
    license: 'as given by the owner of the files',
    origin: root,
    recommendedTokenizer: options.recommendedTokenizer ?? 'character',
    splitRule,
    splits,
    officialWordCounts: null,
  };
}
