// A corpus split as a list of byte ranges (of files or of in-memory text), read in chunks that end on whitespace so text decoders and word counters never cut a character or a word.
import { open } from 'node:fs/promises';
import { EmptyCorpusError, InvalidArgumentError, InvalidUtf8Error } from '../errors.js';

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

/** One chunk read from a part. */
export interface ByteChunk {
  bytes: Uint8Array;
  part: CorpusPart;
  /** Offset of `bytes[0]` in the part's file (or in the in-memory text). */
  offset: number;
  /** True for the last chunk of its part. */
  endOfPart: boolean;
}

/** Default chunk size when reading splits (bytes). */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

/** Reads the raw bytes of a split part by part, in chunks of at most `chunkBytes`. */
export async function* readSplitByteChunks(split: CorpusSplit, chunkBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<ByteChunk> {
  assertChunkBytes(chunkBytes);
  for (const part of split.parts) {
    if (part.kind === 'memory') {
      if (part.bytes.length === 0) {
        yield { bytes: part.bytes, part, offset: 0, endOfPart: true };
        continue;
      }
      for (let offset = 0; offset < part.bytes.length; offset += chunkBytes) {
        const end = Math.min(offset + chunkBytes, part.bytes.length);
        yield { bytes: part.bytes.subarray(offset, end), part, offset, endOfPart: end === part.bytes.length };
      }
      continue;
    }
    const handle = await open(part.path, 'r');
    try {
      if (part.end === part.start) {
        yield { bytes: new Uint8Array(0), part, offset: part.start, endOfPart: true };
        continue;
      }
      for (let offset = part.start; offset < part.end; offset += chunkBytes) {
        const length = Math.min(chunkBytes, part.end - offset);
        const buffer = new Uint8Array(length);
        let filled = 0;
        while (filled < length) {
          const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
          if (bytesRead === 0) {
            throw new EmptyCorpusError(part.path, `The rest of the file after byte ${offset + filled} in`, 'The file shrank while it was being read; prepare the corpus again.');
          }
          filled += bytesRead;
        }
        yield { bytes: buffer, part, offset, endOfPart: offset + length === part.end };
      }
    } finally {
      await handle.close();
    }
  }
}

/** All bytes of a split, concatenated (parts joined with nothing in between). */
export async function readSplitBytes(split: CorpusSplit): Promise<Uint8Array> {
  const output = new Uint8Array(split.byteLength);
  let position = 0;
  for await (const chunk of readSplitByteChunks(split)) {
    output.set(chunk.bytes, position);
    position += chunk.bytes.length;
  }
  return output;
}

/** One decoded chunk of text from a part. */
export interface TextChunk {
  text: string;
  /** Number of UTF-8 bytes the text was decoded from. */
  byteLength: number;
  part: CorpusPart;
  /** True for the last chunk of its part (the part's text ends with this chunk). */
  endOfPart: boolean;
  /** True when the chunk was cut in the middle of a run of non-whitespace (only for runs longer than the chunk size). */
  cutInsideWord: boolean;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads a split as UTF-8 text. Chunks end after the last newline of the block read (else
 * after the last ASCII whitespace, else on a character boundary), so no character and
 * (almost) no word is ever split between chunks. Invalid UTF-8 raises {@link InvalidUtf8Error}
 * naming the file and byte offset.
 */
export async function* readSplitTextChunks(split: CorpusSplit, chunkBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<TextChunk> {
  let carry = new Uint8Array(0);
  let carryOffset = 0;
  for await (const chunk of readSplitByteChunks(split, chunkBytes)) {
    let bytes = chunk.bytes;
    let offset = chunk.offset;
    if (carry.length > 0) {
      const joined = new Uint8Array(carry.length + bytes.length);
      joined.set(carry, 0);
      joined.set(bytes, carry.length);
      bytes = joined;
      offset = carryOffset;
    }
    let cut = bytes.length;
    let cutInsideWord = false;
    if (!chunk.endOfPart) {
      const found = findCut(bytes);
      cut = found.cut;
      cutInsideWord = found.insideWord;
    }
    const ready = bytes.subarray(0, cut);
    carry = bytes.slice(cut);
    carryOffset = offset + cut;
    yield { text: decodeUtf8(ready, chunk.part, offset), byteLength: ready.length, part: chunk.part, endOfPart: chunk.endOfPart, cutInsideWord };
    if (chunk.endOfPart) carry = new Uint8Array(0);
  }
}

/** The whole split as one string (parts joined with nothing in between). Only for splits that fit in a string (< 500 MB). */
export async function readSplitText(split: CorpusSplit): Promise<string> {
  const pieces: string[] = [];
  for await (const chunk of readSplitTextChunks(split)) pieces.push(chunk.text);
  return pieces.join('');
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

/** Words of a whole split (each part is a separate document: words never join across parts). */
export async function countSplitWords(split: CorpusSplit, chunkBytes = DEFAULT_CHUNK_BYTES): Promise<number> {
  let count = 0;
  let previousEndedInsideWord = false;
  for await (const chunk of readSplitTextChunks(split, chunkBytes)) {
    let words = countWords(chunk.text);
    if (previousEndedInsideWord && chunk.text.length > 0 && !/^\s/.test(chunk.text)) words -= 1;
    count += words;
    previousEndedInsideWord = chunk.cutInsideWord;
    if (chunk.endOfPart) previousEndedInsideWord = false;
  }
  return count;
}

/** Throws {@link EmptyCorpusError} if the split holds no bytes. */
export function assertSplitNotEmpty(split: CorpusSplit, location: string): void {
  if (split.byteLength === 0) {
    throw new EmptyCorpusError(location, `The ${split.name} split of`, 'Check that the corpus files are complete, or choose different split sizes.');
  }
}

function decodeUtf8(bytes: Uint8Array, part: CorpusPart, offset: number): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new InvalidUtf8Error(describePart(part), offset + firstInvalidUtf8Offset(bytes));
  }
}

const ASCII_WHITESPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20]);

/** Where to cut a block: after the last newline, else after the last ASCII whitespace, else at a character boundary. */
function findCut(bytes: Uint8Array): { cut: number; insideWord: boolean } {
  const newline = bytes.lastIndexOf(0x0a);
  if (newline >= 0) return { cut: newline + 1, insideWord: false };
  for (let index = bytes.length - 1; index >= 0; index -= 1) {
    if (ASCII_WHITESPACE.has(bytes[index] as number)) return { cut: index + 1, insideWord: false };
  }
  return { cut: characterBoundaryAtOrBefore(bytes, bytes.length), insideWord: true };
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

function assertChunkBytes(chunkBytes: number): void {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 16) {
    throw new InvalidArgumentError('chunkBytes', 'an integer >= 16', chunkBytes);
  }
}
