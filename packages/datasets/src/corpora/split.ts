// A corpus split as a list of byte ranges (of files or of in-memory text), read in chunks that end on whitespace so text decoders and word counters never cut a character or a word.
import { open } from 'node:fs/promises';
import { EmptyCorpusError, InvalidArgumentError, InvalidUtf8Error } from '../errors.js';
import { characterBoundaryAtOrBefore, countWords, describePart, firstInvalidUtf8Offset, type CorpusPart, type CorpusSplit } from './parts.js';

export * from './parts.js';

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

function assertChunkBytes(chunkBytes: number): void {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 16) {
    throw new InvalidArgumentError('chunkBytes', 'an integer >= 16', chunkBytes);
  }
}
