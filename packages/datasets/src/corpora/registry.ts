// The one table of corpus files: official locations, known sizes and checksums, archive members, and PG-19's published statistics.
import type { FileChecksum } from '../io/files.js';
import type { SplitName } from './split.js';

/** A file inside a corpus archive. */
export interface KnownMember {
  member: string;
  /** Split held by this member (absent: the whole corpus, split by byte counts). */
  split?: SplitName;
  /** Exact unpacked size when known. */
  sizeBytes: number | null;
}

/** A downloadable corpus file and what is known about it. */
export interface KnownFile {
  corpus: 'enwik8' | 'text8' | 'wikitext-103' | 'wikitext-103-raw';
  fileName: string;
  /** Default base URL; the file is at `${baseUrl}/${fileName}`. */
  defaultBaseUrl: string;
  /** Exact size in bytes when known, else null (then only the server's Content-Length and the zip's own CRC-32s are checked). */
  sizeBytes: number | null;
  /** Digest when one has been verified, else null. */
  checksum: FileChecksum | null;
  members: KnownMember[];
}

/** Base URL of Matt Mahoney's enwik8/text8 files. */
export const HUTTER_BASE_URL = 'http://mattmahoney.net/dc';
/** Base URL of the WikiText zips (Salesforce research bucket). */
export const WIKITEXT_BASE_URL = 'https://s3.amazonaws.com/research.metamind.io/wikitext';
/** Public HTTPS root of the PG-19 bucket `gs://deepmind-gutenberg`. */
export const PG19_BASE_URL = 'https://storage.googleapis.com/deepmind-gutenberg';
/** Google Cloud Storage JSON listing of the PG-19 bucket (gives each book's size and MD5). */
export const PG19_LISTING_URL = 'https://storage.googleapis.com/storage/v1/b/deepmind-gutenberg/o';

/**
 * Known files. Sizes of enwik8.zip / text8.zip and their unpacked 100,000,000 bytes are the
 * published ones. No checksum is claimed for any archive: none could be verified against
 * the originals from our machines, so these files are checked by size only (and by the
 * CRC-32 of every extracted member, which the zip format carries). WikiText zips have no
 * size here for the same reason. PG-19 books are checked against the size and MD5 that the
 * bucket listing reports for each object.
 */
export const KNOWN_FILES: readonly KnownFile[] = [
  {
    corpus: 'enwik8',
    fileName: 'enwik8.zip',
    defaultBaseUrl: HUTTER_BASE_URL,
    sizeBytes: 36_445_475,
    checksum: null,
    members: [{ member: 'enwik8', sizeBytes: 100_000_000 }],
  },
  {
    corpus: 'text8',
    fileName: 'text8.zip',
    defaultBaseUrl: HUTTER_BASE_URL,
    sizeBytes: 31_344_016,
    checksum: null,
    members: [{ member: 'text8', sizeBytes: 100_000_000 }],
  },
  {
    corpus: 'wikitext-103',
    fileName: 'wikitext-103-v1.zip',
    defaultBaseUrl: WIKITEXT_BASE_URL,
    sizeBytes: null,
    checksum: null,
    members: [
      { member: 'wikitext-103/wiki.train.tokens', split: 'train', sizeBytes: null },
      { member: 'wikitext-103/wiki.valid.tokens', split: 'valid', sizeBytes: null },
      { member: 'wikitext-103/wiki.test.tokens', split: 'test', sizeBytes: null },
    ],
  },
  {
    corpus: 'wikitext-103-raw',
    fileName: 'wikitext-103-raw-v1.zip',
    defaultBaseUrl: WIKITEXT_BASE_URL,
    sizeBytes: null,
    checksum: null,
    members: [
      { member: 'wikitext-103-raw/wiki.train.raw', split: 'train', sizeBytes: null },
      { member: 'wikitext-103-raw/wiki.valid.raw', split: 'valid', sizeBytes: null },
      { member: 'wikitext-103-raw/wiki.test.raw', split: 'test', sizeBytes: null },
    ],
  },
];

/** The table entry of a corpus. */
export function knownFile(corpus: KnownFile['corpus']): KnownFile {
  const entry = KNOWN_FILES.find((file) => file.corpus === corpus);
  if (entry === undefined) throw new RangeError(`No known file for corpus ${corpus}`);
  return entry;
}

/** The standard enwik8/text8 split: first 90M bytes train, next 5M valid, last 5M test. */
export const HUTTER_SPLIT_FRACTIONS: readonly [number, number, number] = [0.9, 0.05, 0.05];

/** Words per PG-19 split as published with the dataset (Rae et al. 2019), for word-level perplexity. */
export const PG19_OFFICIAL_WORD_COUNTS: Readonly<Record<SplitName, number>> = { train: 1_973_136_207, valid: 3_007_061, test: 6_966_499 };
/** Books per PG-19 split as published. */
export const PG19_OFFICIAL_BOOK_COUNTS: Readonly<Record<SplitName, number>> = { train: 28_602, valid: 50, test: 100 };

/** Joins a base (URL or local folder) and a relative name with exactly one slash. */
export function joinLocation(base: string, name: string): string {
  return `${base.replace(/\/+$/, '')}/${name.replace(/^\/+/, '')}`;
}
