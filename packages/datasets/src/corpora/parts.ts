// Corpus splits as parts (file byte ranges or in-memory bytes), word counting and UTF-8 boundaries: everything about splits that reads no file.
import { EmptyCorpusError } from '../errors.js';

/** The three splits of every corpus. PG-19's `validation` folder is the `valid` split. */
export type SplitName = 'train' | 'valid' | 'test';

/** The split names in order. */
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'valid', 'test'];

/** Bytes [start, end) of a file on disk. */
export interface FilePart {
  kind: 'file';
  path: string;
  start: number;
  end: number;
}

/** Bytes held in memory (the bundled book), with a label used in error messages. */
export interface MemoryPart {
  kind: 'memory';
  label: string;
  bytes: Uint8Array;
}

/** One contiguous piece of a split; several parts are separate documents (e.g. PG-19 books). */
export type CorpusPart = FilePart | MemoryPart;

/** A split: its parts, in order, and their total size in bytes. */
export interface CorpusSplit {
  name: SplitName;
  parts: CorpusPart[];
  byteLength: number;
}

/** A split made of the given parts. */
export function createSplit(name: SplitName, parts: CorpusPart[]): CorpusSplit {
  let byteLength = 0;
  for (const part of parts) byteLength += partLength(part);
  return { name, parts, byteLength };
}

/** Number of bytes in a part. */
export function partLength(part: CorpusPart): number {
  return part.kind === 'file' ? part.end - part.start : part.bytes.length;
}

/** A human-readable name of a part for messages: the file path (with its byte range when partial) or the label. */
export function describePart(part: CorpusPart): string {
  return part.kind === 'file' ? part.path : part.label;
}

/** Whitespace characters that separate words (JavaScript `\s`: ASCII and Unicode spaces, line breaks). */
const WORD_PATTERN = /\S+/g;

/**
 * Number of words of a text: maximal runs of non-whitespace characters (the PG-19
 * convention for word-level perplexity: words are the whitespace-separated tokens of the
 * original text).
 */
export function countWords(text: string): number {
  let count = 0;
  WORD_PATTERN.lastIndex = 0;
  while (WORD_PATTERN.exec(text) !== null) count += 1;
  return count;
}

/** Throws {@link EmptyCorpusError} if the split holds no bytes. */
export function assertSplitNotEmpty(split: CorpusSplit, location: string): void {
  if (split.byteLength === 0) {
    throw new EmptyCorpusError(location, `The ${split.name} split of`, 'Check that the corpus files are complete, or choose different split sizes.');
  }
}

/** The largest index <= `position` that does not fall inside a UTF-8 multi-byte sequence. */
export function characterBoundaryAtOrBefore(bytes: Uint8Array, position: number): number {
  let index = Math.min(position, bytes.length);
  let steps = 0;
  while (index > 0 && index < bytes.length && steps < 3 && ((bytes[index] as number) & 0xc0) === 0x80) {
    index -= 1;
    steps += 1;
  }
  if (index === bytes.length && index > 0) {
    // Check whether the final sequence is complete.
    let lead = bytes.length - 1;
    let back = 0;
    while (lead > 0 && back < 3 && ((bytes[lead] as number) & 0xc0) === 0x80) {
      lead -= 1;
      back += 1;
    }
    const needed = sequenceLength(bytes[lead] as number);
    if (needed > 1 && bytes.length - lead < needed) return lead;
  }
  return index;
}

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 1;
}

/** Offset of the first byte that starts an invalid UTF-8 sequence, or `bytes.length` when all is valid. */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index] as number;
    if (lead < 0x80) {
      index += 1;
      continue;
    }
    const length = sequenceLength(lead);
    if (length === 1) return index;
    if (index + length > bytes.length) return index;
    const second = bytes[index + 1] as number;
    if ((second & 0xc0) !== 0x80) return index;
    if (lead === 0xe0 && second < 0xa0) return index; // overlong
    if (lead === 0xed && second > 0x9f) return index; // surrogate
    if (lead === 0xf0 && second < 0x90) return index; // overlong
    if (lead === 0xf4 && second > 0x8f) return index; // above U+10FFFF
    for (let next = 2; next < length; next += 1) {
      if (((bytes[index + next] as number) & 0xc0) !== 0x80) return index;
    }
    index += length;
  }
  return bytes.length;
}
