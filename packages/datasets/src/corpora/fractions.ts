// Splitting a sequence of documents into train/valid/test by byte fractions, moving each cut forward to the next line end so no line is split.
import { InvalidArgumentError } from '../errors.js';
import type { CorpusPart, SplitName } from './parts.js';

/** A whole document to split: a file or in-memory bytes. */
export type SplittableDocument = { kind: 'file'; path: string; size: number } | { kind: 'memory'; label: string; bytes: Uint8Array };

/** The default local-corpus split: 90% / 5% / 5% of the bytes. */
export const DEFAULT_SPLIT_FRACTIONS: readonly [number, number, number] = [0.9, 0.05, 0.05];

/** How far past a cut point a line end is looked for before falling back to a character boundary. */
export const LINE_SEARCH_BYTES = 1024 * 1024;

function documentSize(document: SplittableDocument): number {
  return document.kind === 'file' ? document.size : document.bytes.length;
}

/** Reads up to `length` bytes of a file from byte `start` (Node: `readFileWindow` of `@engram/datasets/node`). */
export type ReadFileWindow = (path: string, start: number, length: number) => Promise<Uint8Array>;

async function readWindow(document: SplittableDocument, start: number, length: number, readFileWindow: ReadFileWindow | undefined): Promise<Uint8Array> {
  const end = Math.min(documentSize(document), start + length);
  if (end <= start) return new Uint8Array(0);
  if (document.kind === 'memory') return document.bytes.subarray(start, end);
  if (readFileWindow === undefined) {
    throw new InvalidArgumentError('readFileWindow', 'a file reader for file documents', undefined, `Pass readFileWindow (from @engram/datasets/node) to split "${document.path}".`);
  }
  return readFileWindow(document.path, start, end - start);
}

/** Moves a cut at `offset` of a document to just after the next newline within the search window (a cut right after a newline stays), else to the next character boundary. */
async function lineCut(document: SplittableDocument, offset: number, readFileWindow: ReadFileWindow | undefined): Promise<number> {
  const size = documentSize(document);
  if (offset <= 0 || offset >= size) return Math.min(Math.max(offset, 0), size);
  const window = await readWindow(document, offset - 1, LINE_SEARCH_BYTES + 1, readFileWindow);
  const newline = window.indexOf(0x0a);
  if (newline >= 0) return offset - 1 + newline + 1;
  let cut = offset;
  // Skip UTF-8 continuation bytes (10xxxxxx) so the cut never splits a character.
  for (let index = 1; index < window.length && ((window[index] as number) & 0xc0) === 0x80; index += 1) cut += 1;
  return cut;
}

/**
 * Byte ranges of each split. Cut points are at fractions f0 and f0+f1 of the total bytes,
 * each moved forward to just after the next newline within {@link LINE_SEARCH_BYTES} (else
 * to the next UTF-8 character boundary). Documents keep their order; a split may hold the end of one document and the start
 * of the next. File documents are read through `readFileWindow` (only the windows around the cuts).
 */
export async function splitByFractions(
  documents: readonly SplittableDocument[],
  fractions: readonly [number, number, number] = DEFAULT_SPLIT_FRACTIONS,
  readFileWindow?: ReadFileWindow,
): Promise<Record<SplitName, CorpusPart[]>> {
  const [trainFraction, validFraction, testFraction] = fractions;
  const sum = trainFraction + validFraction + testFraction;
  if (fractions.some((value) => !(value > 0)) || Math.abs(sum - 1) > 1e-9) {
    throw new InvalidArgumentError('splitFractions', 'three positive numbers adding up to 1', fractions, 'The default is [0.9, 0.05, 0.05].');
  }
  const starts: number[] = [];
  let total = 0;
  for (const document of documents) {
    starts.push(total);
    total += documentSize(document);
  }
  const placeCut = async (target: number): Promise<number> => {
    for (let index = 0; index < documents.length; index += 1) {
      const start = starts[index] as number;
      const size = documentSize(documents[index] as SplittableDocument);
      if (target >= start && target < start + size) return start + (await lineCut(documents[index] as SplittableDocument, target - start, readFileWindow));
    }
    return total;
  };
  const firstCut = await placeCut(Math.round(total * trainFraction));
  const secondCut = Math.max(firstCut, await placeCut(Math.round(total * (trainFraction + validFraction))));
  const ranges: Record<SplitName, [number, number]> = { train: [0, firstCut], valid: [firstCut, secondCut], test: [secondCut, total] };
  const result = { train: [], valid: [], test: [] } as Record<SplitName, CorpusPart[]>;
  for (const split of ['train', 'valid', 'test'] as const) {
    const [from, to] = ranges[split];
    for (let index = 0; index < documents.length; index += 1) {
      const document = documents[index] as SplittableDocument;
      const start = starts[index] as number;
      const localStart = Math.max(from, start) - start;
      const localEnd = Math.min(to, start + documentSize(document)) - start;
      if (localEnd <= localStart) continue;
      result[split].push(
        document.kind === 'file'
          ? { kind: 'file', path: document.path, start: localStart, end: localEnd }
          : { kind: 'memory', label: document.label, bytes: document.bytes.subarray(localStart, localEnd) },
      );
    }
  }
  return result;
}
